"""`python -m scimeta` runs the `scimeta` command."""

import sys

from scimeta.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
