"""Fixed seeds and a fixed clock, so that the same scale always produces the same rows."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime

# Every domain time is an offset from here; wall-clock time never enters demo rows.
BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def rng_for(domain: str, index: int) -> random.Random:
    """The random generator of one top-level entity (a study, a project, a run, ...).

    Seeding per entity rather than per load keeps an entity's rows identical at every
    scale that includes it, so a larger load only adds entities and never alters one.
    """
    return random.Random(f"scimeta-demo/{domain}/{index}")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def random_uuid(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from `rng` rather than from the operating system."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)
