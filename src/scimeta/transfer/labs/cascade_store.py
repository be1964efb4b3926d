"""The Cascade trajectory engine's store as its lab keeps it: the tables of its
`cascade.agents.db_orm` models (`DBTrajectory`, `DBTrajectoryChunk`) on PostgreSQL or in
a SQLite file, and the ASE database of its frames (`systems`), by default in the same
database (the engine gives both one URL).

The metadata tables are small and read whole, one dictionary per row. Frames are read in
id order, a batch at a time, so that a large ASE database never sits in memory at once:
straight from the `systems` table: on PostgreSQL as arrays and JSONB, as ASE's PostgreSQL
backend writes them; on SQLite as the blobs ase.db writes at its current layout version
(an older layout is read through ase.db itself, which is slower: it asks for external
tables once per row).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg  # type: ignore[import-untyped]
import numpy as np

from scimeta.transfer.formats import TransferError

# The tables' names: those the engine's models declare, then those a model named
# DBTrajectory / DBTrajectoryChunk would get from a naming convention of class names.
TRAJECTORY_TABLES = ("trajectories", "db_trajectory", "dbtrajectory", "db_trajectories")
CHUNK_TABLES = (
    "trajectory_chunks",
    "db_trajectory_chunk",
    "dbtrajectorychunk",
    "db_trajectory_chunks",
)
TRAJECTORY_COLUMNS = ("run_id", "traj_id", "target_length")
CHUNK_COLUMNS = ("run_id", "traj_id", "chunk_id", "model_version", "audit_status", "n_frames")
# ASE's table of frames
FRAMES_TABLE = "systems"
FRAME_BATCH = 1_000
# ASE keeps a cell's periodicity as a bit mask: 1, 2, 4 for the first, second, third axis
_PBC_BITS = (1, 2, 4)


@dataclass(frozen=True)
class Frame:
    """One row of the ASE database: its id, key-value pairs, and the atoms as numbers."""

    ase_id: int
    key_value_pairs: dict[str, Any]
    numbers: list[int]
    positions: list[list[float]]
    cell: list[list[float]] | None
    pbc: list[bool]
    energy: float | None
    forces: list[list[float]] | None


@dataclass(frozen=True)
class Location:
    """Where the tables are (a postgresql:// URL or a SQLite file) and where the frames are."""

    tables: str
    frames: str

    @classmethod
    def parse(cls, location: str) -> Location:
        """LOCATION, optionally with `?ase=URL_OR_PATH` naming the ASE database when it is
        not the tables' own."""
        base, _, given = location.partition("?")
        query = parse_qs(given)
        kept = "&".join(p for p in given.split("&") if p and not p.startswith("ase="))
        tables = f"{base}?{kept}" if kept else base
        found = query.get("ase")
        return cls(tables=tables, frames=found[0] if found else tables)


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://"))


def _sqlite_frame(row: tuple[Any, ...]) -> Frame:
    """A row of ASE's SQLite `systems` table, decoded as ase.db decodes it: arrays are the
    little-endian bytes of int32 (numbers) or float64 (the rest) values."""
    ase_id, pairs, numbers, positions, cell, pbc, energy, forces = row
    pbc = pbc or 0
    return Frame(
        ase_id=ase_id,
        key_value_pairs=json.loads(pairs or "{}"),
        numbers=_array(numbers, "<i4").tolist(),
        positions=_array(positions, "<f8").reshape(-1, 3).tolist(),
        cell=None if cell is None else _array(cell, "<f8").reshape(3, 3).tolist(),
        pbc=[bool(pbc & bit) for bit in _PBC_BITS],
        energy=energy,
        forces=None if forces is None else _array(forces, "<f8").reshape(-1, 3).tolist(),
    )


def _array(blob: bytes | None, dtype: str) -> Any:
    if not blob:
        return np.zeros(0, dtype)
    return np.frombuffer(blob, dtype)


def sqlite_path(location: str) -> Path:
    if location.startswith("sqlite:///"):
        return Path(location.removeprefix("sqlite:///"))
    if location.startswith("sqlite:"):
        return Path(urlsplit(location).path)
    return Path(location)


async def _pg_connect(location: str, what: str) -> Any:
    dsn = location.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        return await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise TransferError(f"cannot connect to the Cascade {what}: {exc}") from exc


def _sqlite_file(location: str, what: str) -> Path:
    path = sqlite_path(location)
    if not path.is_file():
        raise TransferError(
            f"{path} is not a file: give the Cascade {what} as a postgresql:// URL, a "
            "sqlite:///PATH or a path"
        )
    return path


@dataclass
class Tables:
    """The trajectories and chunk attempts, one dictionary per row, by id; and the
    names the tables have in this store."""

    trajectory_table: str
    chunk_table: str
    trajectories: list[dict[str, Any]]
    chunks: list[dict[str, Any]]


def _choose(present: set[str], candidates: tuple[str, ...], what: str, location: str) -> str:
    for name in candidates:
        if name in present:
            return name
    raise TransferError(
        f"{location} is not a Cascade store: it has no table of {what} (one of "
        f"{', '.join(candidates)})"
    )


def _check_columns(table: str, columns: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise TransferError(f"the table {table} has no column {', '.join(missing)}")


async def read_tables(location: str) -> Tables:
    """The trajectories and chunk attempts of the store at `location`."""
    if is_postgres(location):
        connection = await _pg_connect(location, "database")
        try:
            names = {
                row[0]
                for row in await connection.fetch(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = current_schema()"
                )
            }
            trajectory_table = _choose(names, TRAJECTORY_TABLES, "trajectories", location)
            chunk_table = _choose(names, CHUNK_TABLES, "chunk attempts", location)
            read = []
            for table, required in (
                (trajectory_table, TRAJECTORY_COLUMNS),
                (chunk_table, CHUNK_COLUMNS),
            ):
                # JSON as text and enums as their labels, as SQLite has them
                columns = await connection.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = $1"
                    " ORDER BY ordinal_position",
                    table,
                )
                _check_columns(table, [c[0] for c in columns], required)
                selected = ", ".join(
                    f'"{name}"::text AS "{name}"'
                    if kind in {"json", "jsonb", "USER-DEFINED"}
                    else f'"{name}"'
                    for name, kind in columns
                )
                rows = await connection.fetch(f'SELECT {selected} FROM "{table}" ORDER BY id')
                read.append([dict(row) for row in rows])
        finally:
            await connection.close()
        return Tables(trajectory_table, chunk_table, read[0], read[1])
    path = _sqlite_file(location, "database")
    database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = {
            row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        trajectory_table = _choose(names, TRAJECTORY_TABLES, "trajectories", str(path))
        chunk_table = _choose(names, CHUNK_TABLES, "chunk attempts", str(path))
        read = []
        for table, required in (
            (trajectory_table, TRAJECTORY_COLUMNS),
            (chunk_table, CHUNK_COLUMNS),
        ):
            cursor = database.execute(f'SELECT * FROM "{table}" ORDER BY id')
            columns = [d[0] for d in cursor.description]
            _check_columns(table, columns, required)
            read.append([dict(zip(columns, row, strict=True)) for row in cursor])
    finally:
        database.close()
    return Tables(trajectory_table, chunk_table, read[0], read[1])


class FrameSource:
    """The ASE database of frames at a location; empty where it has no `systems` table."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._connection: Any = None
        self._path: Path | None = None

    async def open(self) -> bool:
        """Whether the location has an ASE database of frames."""
        if is_postgres(self.location):
            self._connection = await _pg_connect(self.location, "ASE database")
            found = await self._connection.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", FRAMES_TABLE
            )
            return bool(found)
        path = _sqlite_file(self.location, "ASE database")
        # ase.db would create its tables in a file without them: looked at read-only first
        database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = database.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                (FRAMES_TABLE,),
            ).fetchone()[0]
        finally:
            database.close()
        self._path = path if found else None
        return bool(found)

    async def count(self) -> int:
        if self._connection is not None:
            return int(await self._connection.fetchval(f"SELECT count(*) FROM {FRAMES_TABLE}"))
        if self._path is None:
            return 0
        database = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
        try:
            return int(database.execute(f"SELECT count(*) FROM {FRAMES_TABLE}").fetchone()[0])
        finally:
            database.close()

    async def batches(self) -> AsyncIterator[list[Frame]]:
        """Every frame by id, FRAME_BATCH at a time."""
        if self._connection is not None:
            async for batch in self._postgres_batches():
                yield batch
        elif self._path is not None:
            for batch in self._sqlite_batches(self._path):
                yield batch

    async def _postgres_batches(self) -> AsyncIterator[list[Frame]]:
        batch: list[Frame] = []
        async with self._connection.transaction():
            async for row in self._connection.cursor(
                "SELECT id, key_value_pairs::text, numbers, positions, cell, pbc, energy, forces"
                f" FROM {FRAMES_TABLE} ORDER BY id",
                prefetch=FRAME_BATCH,
            ):
                pbc = row["pbc"] or 0
                batch.append(
                    Frame(
                        ase_id=row["id"],
                        key_value_pairs=json.loads(row["key_value_pairs"] or "{}"),
                        numbers=list(row["numbers"] or []),
                        positions=[list(p) for p in row["positions"] or []],
                        cell=[list(v) for v in row["cell"]] if row["cell"] else None,
                        pbc=[bool(pbc & bit) for bit in _PBC_BITS],
                        energy=row["energy"],
                        forces=[list(f) for f in row["forces"]] if row["forces"] else None,
                    )
                )
                if len(batch) >= FRAME_BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    @staticmethod
    def _sqlite_batches(path: Path) -> Iterator[list[Frame]]:
        from ase.db.sqlite import VERSION

        database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = database.execute(
                "SELECT value FROM information WHERE name = 'version'"
            ).fetchone()
        except sqlite3.OperationalError:
            found = None
        if found is None or int(found[0]) != VERSION:
            # an older layout: ase.db knows how to read it
            database.close()
            yield from FrameSource._ase_batches(path)
            return
        try:
            cursor = database.execute(
                "SELECT id, key_value_pairs, numbers, positions, cell, pbc, energy, forces"
                f" FROM {FRAMES_TABLE} ORDER BY id"
            )
            while rows := cursor.fetchmany(FRAME_BATCH):
                yield [_sqlite_frame(row) for row in rows]
        finally:
            database.close()

    @staticmethod
    def _ase_batches(path: Path) -> Iterator[list[Frame]]:
        import ase.db

        database = ase.db.connect(  # type: ignore[no-untyped-call]
            str(path), type="db", create_indices=False
        )
        batch: list[Frame] = []
        for row in database.select():
            forces = row.get("forces")
            batch.append(
                Frame(
                    ase_id=row.id,
                    key_value_pairs=dict(row.key_value_pairs),
                    numbers=[int(n) for n in row.numbers],
                    positions=row.positions.tolist(),
                    cell=row.cell.tolist(),
                    pbc=[bool(flag) for flag in row.pbc],
                    energy=row.get("energy"),
                    forces=None if forces is None else forces.tolist(),
                )
            )
            if len(batch) >= FRAME_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
