"""The row number inside a global id."""

from __future__ import annotations

import re

# ids are PostgreSQL bigint identities, counted from 1
MAX_ROW_ID = 2**63 - 1


def parse_row_id(text: str) -> int | None:
    """The row number `text` gives, or None if it is not one a row can have. Only the
    form this API writes is taken: ASCII decimal digits without a sign, spaces,
    underscores or leading zeros (`int()` would also read `1_0`, `+1`, ` 1` and other
    scripts' digits, giving one row many ids), within the range of a bigint identity."""
    if not _CANONICAL.fullmatch(text) or len(text) > len(str(MAX_ROW_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ROW_ID else None


_CANONICAL = re.compile(r"[1-9][0-9]*", re.ASCII)
