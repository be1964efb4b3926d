"""The Quantum Forge chemistry database as its lab keeps it: PostgreSQL (the Supabase
schema of `backend/scripts/schema.sql`, or the tables its SQLAlchemy models create) or a
SQLite copy, with the same table and column names.

The small tables (molecules, calculations, batches, their items, the event log) are read
whole, one dictionary per row; atomic properties are read in ranges of calculations as
one list per column, so that a million atoms never become a million Python objects on the
PostgreSQL path (one row of arrays per range) and only tuples on the SQLite path.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import asyncpg  # type: ignore[import-untyped]

from scimeta.transfer.formats import TransferError

TABLES = ("molecules", "calculations", "atomic_properties", "batch_jobs", "batch_items")
EVENT_LOG = "event_logs"
# The columns of an atom, in the order of `AtomColumns`' fields; those the store lacks
# are read as nulls, except the first four.
ATOM_COLUMNS = (
    "id",
    "calculation_id",
    "atom_index",
    "element",
    "atomic_number",
    "partial_charge",
    "position_x",
    "position_y",
    "position_z",
    "force_x",
    "force_y",
    "force_z",
    "orbital_energy",
    "user_id",
    "metadata",
)
_REQUIRED_ATOM_COLUMNS = 4
# The SQL types of ATOM_COLUMNS, for the PostgreSQL arrays.
_ATOM_TYPES = ("bigint", "bigint", "bigint", "text", "bigint", *["float8"] * 8, "text", "text")


@dataclass
class AtomColumns:
    """Atoms of the store, one list per column (see ATOM_COLUMNS); `metadata` is JSON text."""

    id: Sequence[Any]
    calculation_id: Sequence[Any]
    atom_index: Sequence[Any]
    element: Sequence[Any]
    atomic_number: Sequence[Any]
    partial_charge: Sequence[Any]
    position_x: Sequence[Any]
    position_y: Sequence[Any]
    position_z: Sequence[Any]
    force_x: Sequence[Any]
    force_y: Sequence[Any]
    force_z: Sequence[Any]
    orbital_energy: Sequence[Any]
    user_id: Sequence[Any]
    metadata: Sequence[Any]

    def __len__(self) -> int:
        return len(self.id)


class Store(Protocol):
    """A Quantum Forge database, open for reading."""

    # where the store's SQLite file is, for its results directory (None on PostgreSQL)
    directory: Path | None
    # whether the database typed every value (PostgreSQL); SQLite keeps any value anywhere
    typed: bool

    async def tables(self) -> set[str]: ...

    async def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of `table` by id; a `<prefix>_metadata` column is named `metadata`."""
        ...

    async def atom_counts(self) -> dict[int, int]:
        """How many atoms each calculation id has (ids of no calculation included)."""
        ...

    async def atoms(self, first: int, last: int) -> AtomColumns:
        """The atoms of calculations `first` to `last`, by calculation and atom index."""
        ...

    async def close(self) -> None: ...


def results_root(location: str) -> Path | None:
    """The results directory named by `?results=DIR` in the location, if any."""
    query = parse_qs(urlsplit(location).query)
    found = query.get("results")
    return Path(found[0]) if found else None


async def open_store(location: str) -> Store:
    """The store at `location`: a postgresql:// URL, a sqlite:/// URL or a file path."""
    if location.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        dsn = location.replace("postgresql+asyncpg://", "postgresql://", 1)
        split = urlsplit(dsn)
        query = "&".join(
            part for part in split.query.split("&") if part and not part.startswith("results=")
        )
        dsn = split._replace(query=query).geturl()
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise TransferError(f"cannot connect to the Quantum Forge database: {exc}") from exc
        store: Store = PostgresStore(connection)
    else:
        path = Path(urlsplit(location).path if location.startswith("sqlite:") else location)
        if location.startswith("sqlite:///"):
            path = Path(location.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.is_file():
            raise TransferError(
                f"{path} is not a file: give a SQLite copy of the Quantum Forge database "
                "(a path or sqlite:///PATH) or its postgresql:// URL"
            )
        store = SqliteStore(path)
    tables = await store.tables()
    missing = [t for t in (*TABLES, EVENT_LOG) if t not in tables]
    if missing:
        await store.close()
        raise TransferError(
            f"{location} is not a Quantum Forge database: it has no table "
            f"{', '.join(missing)} (it needs molecules, calculations, atomic_properties, "
            "batch_jobs, batch_items and event_logs)"
        )
    return store


def _named(column: str) -> str:
    return "metadata" if column.endswith("_metadata") else column


class PostgresStore:
    directory: Path | None = None
    typed = True

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._atom_select: str | None = None

    async def tables(self) -> set[str]:
        rows = await self.connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {row[0] for row in rows}

    async def _columns(self, table: str) -> list[str]:
        rows = await self.connection.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        return [row[0] for row in rows]

    async def rows(self, table: str) -> list[dict[str, Any]]:
        columns = await self._columns(table)
        # JSON as text, as SQLite has it: one decoder for both
        selected = ", ".join(
            f'"{c}"::text AS "{_named(c)}"'
            if _named(c) in {"metadata", "context", "parameters"}
            else f'"{c}"'
            for c in columns
        )
        records = await self.connection.fetch(f'SELECT {selected} FROM "{table}" ORDER BY id')
        return [
            {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in r.items()}
            for r in records
        ]

    async def atom_counts(self) -> dict[int, int]:
        rows = await self.connection.fetch(
            "SELECT calculation_id, count(*) FROM atomic_properties GROUP BY calculation_id"
        )
        return {row[0]: row[1] for row in rows if row[0] is not None}

    async def atoms(self, first: int, last: int) -> AtomColumns:
        if self._atom_select is None:
            present = {_named(c): c for c in await self._columns("atomic_properties")}
            order = "ORDER BY calculation_id, atom_index, id"
            arrays = []
            for position, (column, sql_type) in enumerate(
                zip(ATOM_COLUMNS, _ATOM_TYPES, strict=True)
            ):
                if column in present:
                    value = f'"{present[column]}"::{sql_type}'
                elif position < _REQUIRED_ATOM_COLUMNS:
                    raise TransferError(f"atomic_properties has no column {column}")
                else:
                    value = f"NULL::{sql_type}"
                arrays.append(f"coalesce(array_agg({value} {order}), '{{}}')")
            self._atom_select = (
                f"SELECT {', '.join(arrays)} FROM atomic_properties"
                " WHERE calculation_id BETWEEN $1::bigint AND $2::bigint"
            )
        row = await self.connection.fetchrow(self._atom_select, first, last)
        return AtomColumns(*row)

    async def close(self) -> None:
        await self.connection.close()


class SqliteStore:
    typed = False

    def __init__(self, path: Path) -> None:
        self.directory: Path | None = path.parent
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self._atom_select: str | None = None

    async def tables(self) -> set[str]:
        rows = self.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def _columns(self, table: str) -> list[str]:
        return [row[1] for row in self.connection.execute(f'PRAGMA table_info("{table}")')]

    async def rows(self, table: str) -> list[dict[str, Any]]:
        columns = self._columns(table)
        cursor = self.connection.execute(f'SELECT * FROM "{table}" ORDER BY id')
        names = [_named(c) for c in columns]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    async def atom_counts(self) -> dict[int, int]:
        rows = self.connection.execute(
            "SELECT calculation_id, count(*) FROM atomic_properties GROUP BY calculation_id"
        )
        return {row[0]: row[1] for row in rows if row[0] is not None}

    async def atoms(self, first: int, last: int) -> AtomColumns:
        if self._atom_select is None:
            present = {_named(c): c for c in self._columns("atomic_properties")}
            selected = []
            for position, column in enumerate(ATOM_COLUMNS):
                if column in present:
                    selected.append(f'"{present[column]}"')
                elif position < _REQUIRED_ATOM_COLUMNS:
                    raise TransferError(f"atomic_properties has no column {column}")
                else:
                    selected.append("NULL")
            self._atom_select = (
                f"SELECT {', '.join(selected)} FROM atomic_properties"
                " WHERE calculation_id BETWEEN ? AND ? ORDER BY calculation_id, atom_index, id"
            )
        rows = self.connection.execute(self._atom_select, (first, last)).fetchall()
        if not rows:
            return AtomColumns(*([] for _ in ATOM_COLUMNS))
        return AtomColumns(*zip(*rows, strict=True))

    async def close(self) -> None:
        self.connection.close()


def json_object(text: Any) -> Any:
    """A JSON column's value: the decoded text (SQLite and this reader keep JSON as text);
    None for NULL. Raises ValueError for text that is not JSON."""
    if text is None:
        return None
    if isinstance(text, dict | list):
        return text
    return json.loads(text)


def timestamp(value: Any) -> datetime | None:
    """A time of the store in UTC: PostgreSQL's timestamptz, or SQLite's text (naive
    times are UTC: the models write `datetime.utcnow()`). Raises ValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"{value!r} is not a time")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
