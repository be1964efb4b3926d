"""Bulk writes for the demo loader: new top-level rows by their unique key, everything
else by COPY, with a count of inserted rows per table."""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Enum, Table, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from scimeta.models import Base

Row = Mapping[str, object]


def table_of(model: type[Base]) -> Table:
    return Base.metadata.tables[str(model.__tablename__)]


def _copy_converter(column_type: TypeEngine[Any]) -> Callable[[object], object] | None:
    """How a Python value becomes what COPY sends for a column, if it is not the value
    itself: the asyncpg dialect encodes JSONB from JSON text, and enum columns hold
    their values as text."""
    if isinstance(column_type, JSONB):
        return lambda value: None if value is None else json.dumps(value)
    if isinstance(column_type, Enum):
        return lambda value: value.value if isinstance(value, enum.Enum) else value
    return None


class RowWriter:
    """Writes rows in bulk on one connection (inside the caller's transaction) and
    counts, per table, the rows it inserted."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.counts: Counter[str] = Counter()

    async def insert_new(self, model: type[Base], rows: Sequence[Row], key: str) -> dict[Any, int]:
        """Insert the rows whose unique `key` is still free and return the new ids by key.

        Rows whose key is taken are left alone: this is what makes a second load insert
        nothing and a larger load add only what is missing.
        """
        if not rows:
            return {}
        table = table_of(model)
        statement = insert(table).on_conflict_do_nothing().returning(table.c[key], table.c.id)
        result = await self.connection.execute(statement, list(rows))
        inserted = {row[0]: row[1] for row in result}
        self.counts[table.name] += len(inserted)
        return inserted

    async def ids_by_key(
        self, model: type[Base], key: str, values: Collection[object]
    ) -> dict[Any, int]:
        """Ids of existing rows whose `key` is one of `values`."""
        table = table_of(model)
        statement = select(table.c[key], table.c.id).where(table.c[key].in_(list(values)))
        return {row[0]: row[1] for row in await self.connection.execute(statement)}

    async def allocate_ids(self, model: type[Base], count: int) -> list[int]:
        """Draw `count` ids from the table's identity sequence, so that rows and the rows
        referring to them can be built in memory and then copied in bulk."""
        if count == 0:
            return []
        statement = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
        )
        result = await self.connection.execute(
            statement, {"table": table_of(model).name, "count": count}
        )
        return list(result.scalars())

    async def copy(self, model: type[Base], rows: Sequence[Row]) -> None:
        """Insert rows with COPY. All rows name the same columns; COPY writes an `id`
        given for an identity column as it is, and omitted columns take their defaults."""
        if not rows:
            return
        table = table_of(model)
        columns = list(rows[0])
        conversions = [
            (position, convert)
            for position, name in enumerate(columns)
            if (convert := _copy_converter(table.c[name].type)) is not None
        ]
        records = []
        for row in rows:
            record = [row[name] for name in columns]
            for position, convert in conversions:
                record[position] = convert(record[position])
            records.append(tuple(record))
        raw_connection = await self.connection.get_raw_connection()
        driver_connection = raw_connection.driver_connection
        assert driver_connection is not None, "the connection is checked out for this load"
        await driver_connection.copy_records_to_table(table.name, records=records, columns=columns)
        self.counts[table.name] += len(records)
