"""Bulk rows as one list per column, and how errors name a row's value.

A bulk list reaches the write functions in one of two forms: a list of objects, one per
row (`atomicProperties: [{atomIndex: 0, element: "C"}, ...]`), or one list per column
(`atomicPropertyColumns: {atomIndex: [0, ...], element: ["C", ...]}`), which spares the
server a Python object per row. Both are checked by the same code, on the columns; only
the names in the errors differ, so that a message points at the value the client sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scimeta.errors import BadUserInput


@dataclass(frozen=True)
class Names:
    """Names a row's value in errors: `atomicProperties[3].atomIndex` for a list of
    objects, `atomicPropertyColumns.atomIndex[3]` for columns. `field`, the error's
    `field` extension, is the row (`atomicProperties[3]`) or the value in its column."""

    list_field: str
    columnar: bool = False
    # one row given on its own (`addChunkAttempt(input: {...})`): named without a position,
    # as `input.payload`, or as `index` when `list_field` is empty
    single: bool = False

    def value(self, row: int, column: str) -> str:
        if self.single:
            return f"{self.list_field}.{column}" if self.list_field else column
        if self.columnar:
            return f"{self.list_field}.{column}[{row}]"
        return f"{self.list_field}[{row}].{column}"

    def row(self, row: int) -> str:
        """A whole row: `cycles[3]`, or `row 3 of cycleColumns`."""
        if self.single:
            return self.list_field or "input"
        return f"row {row} of {self.list_field}" if self.columnar else f"{self.list_field}[{row}]"

    def field(self, row: int, column: str) -> str:
        return self.value(row, column) if self.columnar or self.single else self.row(row)

    def column(self, column: str) -> str:
        """A whole column (columnar) or the list of objects."""
        return f"{self.list_field}.{column}" if self.columnar else self.list_field


def check_columns(
    names: Names, cap: int, first: str, columns: dict[str, Sequence[Any] | None]
) -> int:
    """The number of rows the columns hold: that of column `first`, which must be at
    most `cap`; every other column given (not None) must have as many entries.

    The cap is checked before anything else, so that an oversized call is refused as
    the list of objects is, with the same code and `maximum`."""
    rows = len(columns[first] or ())
    if rows > cap:
        raise BadUserInput(
            f"{names.list_field} has {rows} rows; one call takes at most {cap}. "
            "Split the rows over several calls.",
            field=names.list_field,
            maximum=cap,
        )
    for name, column in columns.items():
        if column is not None and len(column) != rows:
            raise BadUserInput(
                f"{names.column(name)} has {len(column)} entries but "
                f"{names.column(first)} has {rows}; every column has one entry per row.",
                field=names.column(name),
            )
    return rows


def nulls(column: Sequence[Any] | None, rows: int) -> Sequence[Any]:
    """An optional column as given, or `rows` nulls when it was left out."""
    return [None] * rows if column is None else column
