"""`orderBy:` arguments and keyset cursors.

Every ordering ends with the primary key, so it is total and a page boundary is exact.
A cursor holds the sort values of its row (not an offset), so it stays valid when rows
are inserted or deleted elsewhere in the list. Ascending sorts put nulls last and
descending sorts put them first, so reversing an ordering (for `last`/`before`) is
flipping every direction.

The `<Entity>Order` inputs and their `<Entity>OrderField` enums (whose values are column
names) are written by `python -m scimeta.schema.generate` in `scimeta.schema.generated`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.orm import InstrumentedAttribute

from scimeta.errors import BadUserInput

Column = InstrumentedAttribute[Any]


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class OrderTerm:
    column: Column
    descending: bool = False

    def reversed(self) -> OrderTerm:
        return OrderTerm(self.column, not self.descending)

    def sql(self) -> ColumnElement[Any]:
        if self.descending:
            return self.column.desc().nulls_first()
        return self.column.asc().nulls_last()

    def after(self, value: Any) -> ColumnElement[bool]:
        """Rows strictly after `value` in this term's order."""
        if value is None:
            return self.column.is_not(None) if self.descending else false()
        if self.descending:
            return self.column < value
        return or_(self.column > value, self.column.is_(None))

    def equal(self, value: Any) -> ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == value


def order_terms(
    model: Any, order_by: list[Any] | None, default: list[OrderTerm], key: Column
) -> list[OrderTerm]:
    """The ordering a list uses: the client's `orderBy` (each item has `field`, an enum whose
    value is a column name, and `direction`) or the list's default, then the key."""
    if order_by:
        terms = [
            OrderTerm(getattr(model, item.field.value), item.direction is OrderDirection.DESC)
            for item in order_by
        ]
    else:
        terms = list(default)
    if not any(term.column is key for term in terms):
        terms.append(OrderTerm(key, terms[-1].descending if terms else False))
    return terms


def keyset_condition(terms: list[OrderTerm], values: list[Any]) -> ColumnElement[bool]:
    """Rows after the row whose sort values are `values`:
    (a > va) OR (a = va AND b > vb) OR ..."""
    alternatives = []
    for position, term in enumerate(terms):
        equal_before = [t.equal(v) for t, v in zip(terms[:position], values, strict=False)]
        alternatives.append(and_(*equal_before, term.after(values[position])))
    return or_(*alternatives)


def ordering_name(terms: list[OrderTerm]) -> str:
    return ",".join(f"{t.column.key}:{'desc' if t.descending else 'asc'}" for t in terms)


def encode_cursor(terms: list[OrderTerm], row: Any) -> str:
    values = [_encode_value(getattr(row, term.column.key)) for term in terms]
    # as PostgreSQL writes JSON text, so that compiled reads give the same cursors
    payload = json.dumps([ordering_name(terms), values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode()).decode()


def decode_cursor(terms: list[OrderTerm], cursor: str) -> list[Any]:
    """The sort values in `cursor`, which must come from a list with the same ordering."""
    try:
        ordering, values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeError, ValueError, TypeError, RecursionError):
        raise BadUserInput(f"Invalid cursor {cursor!r}: pass a cursor this API returned.") from None
    if ordering != ordering_name(terms) or not isinstance(values, list):
        raise BadUserInput(
            "This cursor belongs to a list with another ordering: pass the same orderBy "
            "as the request that returned it."
        )
    try:
        return [_decode_value(term, value) for term, value in zip(terms, values, strict=True)]
    except (ValueError, TypeError, OverflowError):
        raise BadUserInput(f"Invalid cursor {cursor!r}: pass a cursor this API returned.") from None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _decode_value(term: OrderTerm, value: Any) -> Any:
    if value is None:
        return None
    python_type = term.column.type.python_type
    if python_type is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(value)
        # the database compares in UTC: a time that has none (before year 1 there, as
        # 0001-01-01T00:00:00+05:00 is) is not one this API wrote
        moment.astimezone(UTC)
        return moment
    if issubclass(python_type, Enum):
        return python_type(value)
    if python_type is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, python_type):
        raise TypeError(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError(value)
    return value
