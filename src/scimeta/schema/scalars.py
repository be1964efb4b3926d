"""Scalars beyond GraphQL's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _parse_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"Long cannot represent {value!r}: pass an integer.")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"Long cannot represent {value!r}: pass an integer.") from None
    if not LONG_MIN <= number <= LONG_MAX:
        raise ValueError(f"Long cannot represent {value!r}: it is outside 64 bits.")
    return number


def _parse_datetime(value: Any) -> datetime:
    """An ISO 8601 date and time; one without a zone is taken as UTC, so that the same
    input always means the same instant whatever the server's or database's zone."""
    if not isinstance(value, str):
        raise ValueError(f"DateTime cannot represent {value!r}: pass an ISO 8601 string.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"DateTime cannot represent {value!r}: {exc}.") from None
    parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    try:
        # the instant must exist in UTC too: 0001-01-01T00:00+05:00 is before year 1
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"DateTime cannot represent {value!r}: in UTC it falls outside years 1 to 9999."
        ) from None
    return parsed


Long = NewType("Long", int)

# The schema's `scalar_map`: how each scalar above is read and written.
SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        serialize=int,
        parse_value=_parse_long,
        description="A 64-bit integer (file sizes, for example), beyond GraphQL's 32-bit "
        "Int. Given as a JSON number, or as a string of digits.",
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        serialize=datetime.isoformat,
        parse_value=_parse_datetime,
        description="A date and time in ISO 8601, e.g. 2026-01-29T10:00:00Z; without a zone "
        "it is taken as UTC.",
    ),
}
