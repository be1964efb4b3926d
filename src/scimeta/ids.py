"""The row number inside a global id."""

from __future__ import annotations

# ids are PostgreSQL bigint identities, counted from 1
MAX_ROW_ID = 2**63 - 1


def parse_row_id(text: str) -> int | None:
    """The row number `text` gives, or None if it is not one a row can have (not a whole
    number, or outside the range of a bigint identity)."""
    try:
        number = int(text)
    except ValueError:
        return None
    return number if 0 < number <= MAX_ROW_ID else None
