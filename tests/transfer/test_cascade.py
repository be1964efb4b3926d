"""A Cascade trajectory engine's store, in SQLite (its tables and its ASE database of frames
in one file, or the frames in a file of their own) and on PostgreSQL, imported: read back
through GraphQL with the frames of each chunk attempt; a second run adds nothing; a dry
run writes nothing; rows the store holds but scimeta cannot take are refused with their
reasons while the rest go in; an interrupted run finishes when run again; an audit the
engine made since the last import moves the attempt on."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ase.db
import asyncpg
import httpx
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db.sqlite import init_statements
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    text,
)
from sqlalchemy import Enum as SQLEnum
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import declarative_base

from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.transfer.labs import cascade
from scimeta.transfer.labs.cascade import import_cascade
from scimeta.transfer.labs.cascade_store import FrameSource
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, source
from tests.conftest import DatabaseFactory, started
from tests.transfer.conftest import snapshot

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
RUN = "cascade-run-1"
IDLE_RUN = "cascade-run-2"


# The engine's models (cascade/agents/db_orm.py), as its lab creates its tables.
class AuditStatus(enum.Enum):
    PENDING = enum.auto()
    FAILED = enum.auto()
    PASSED = enum.auto()


SourceBase = declarative_base()


class DBTrajectory(SourceBase):  # type: ignore[valid-type,misc]
    __tablename__ = "trajectories"
    id = Column(Integer, primary_key=True)
    run_id = Column(String, nullable=False, index=True)
    traj_id = Column(Integer, nullable=False)
    target_length = Column(Integer, nullable=False)
    chunks_completed = Column(Integer, default=0, nullable=False)
    done = Column(Boolean, default=False, nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    updated_at = Column(DateTime(timezone=True), server_default=func.now())
    init_atoms_json = Column(JSON, nullable=False)
    __table_args__ = (UniqueConstraint("run_id", "traj_id", name="uq_trajectory_run_traj"),)


class DBTrajectoryChunk(SourceBase):  # type: ignore[valid-type,misc]
    __tablename__ = "trajectory_chunks"
    id = Column(Integer, primary_key=True)
    run_id = Column(String, nullable=False, index=True)
    trajectory_id = Column(Integer, ForeignKey("trajectories.id"), nullable=False)
    traj_id = Column(Integer, nullable=False, index=True)
    chunk_id = Column(Integer, nullable=False, index=True)
    attempt_index = Column(Integer, nullable=False, default=0)
    model_version = Column(Integer, nullable=False)
    audit_status = Column(SQLEnum(AuditStatus), nullable=False, default=AuditStatus.PENDING)
    n_frames = Column(Integer, nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    updated_at = Column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        UniqueConstraint(
            "run_id", "traj_id", "chunk_id", "attempt_index", name="uq_chunk_run_traj_chunk_attempt"
        ),
    )


WATER = Atoms(
    "OH2",
    positions=[(0, 0, 0.117), (0, 0.757, -0.467), (0, -0.757, -0.467)],
    cell=[10, 10, 10],
    pbc=True,
)
COPPER = Atoms("Cu", positions=[(0, 0, 0)], cell=[3.6, 3.6, 3.6], pbc=[True, True, False])


def _init_atoms(atoms: Atoms) -> dict[str, Any]:
    """As the engine's initialize_trajectory stores a start structure."""
    return {
        "positions": atoms.get_positions().tolist(),
        "numbers": atoms.get_atomic_numbers().tolist(),
        "cell": atoms.get_cell().tolist(),
        "pbc": atoms.get_pbc().tolist(),
    }


NO_ELEMENT = _init_atoms(WATER) | {"numbers": [200, 1, 1]}


def trajectory_rows() -> list[dict[str, Any]]:
    """Trajectories 1, 2 and 5 go in; 3 has a negative target length, 4 an atomic number
    of no element."""
    return [
        _trajectory(1, RUN, 0, 4, WATER),
        _trajectory(2, RUN, 1, 2, COPPER, done=True),
        _trajectory(3, RUN, 2, -5, WATER),
        {
            **_trajectory(4, RUN, 3, 2, WATER),
            "init_atoms_json": {**_init_atoms(WATER), "numbers": [200, 1, 1]},
        },
        _trajectory(5, IDLE_RUN, 0, 10, COPPER),
    ]


def _trajectory(
    row_id: int, run: str, traj: int, target: int, atoms: Atoms, *, done: bool = False
) -> dict[str, Any]:
    return {
        "id": row_id,
        "run_id": run,
        "traj_id": traj,
        "target_length": target,
        "chunks_completed": 1 if done else 0,
        "done": done,
        "created_at": T0 + timedelta(minutes=row_id),
        "init_atoms_json": _init_atoms(atoms),
    }


def chunk_rows(*, unknown_audit_word: bool = True) -> list[dict[str, Any]]:
    """Attempts 1 to 4 go in; 5 names no trajectory of the store, 6 has a negative frame
    count, 7 is of a refused trajectory, 8 (in SQLite, where any word fits) an audit word
    the engine's enum lacks."""
    rows = [
        _chunk(1, 1, 0, 0, 0, "FAILED", 2, version=1),
        _chunk(2, 1, 0, 0, 1, "PASSED", 2, version=2),
        _chunk(3, 1, 0, 1, 0, "PENDING", 2, version=2),
        _chunk(4, 2, 1, 0, 0, "PASSED", 2, version=2),
        _chunk(5, 1, 9, 0, 0, "PASSED", 2, version=2),
        _chunk(6, 1, 0, 3, 0, "PENDING", -1, version=2),
        _chunk(7, 3, 2, 0, 0, "PENDING", 2, version=2),
    ]
    if unknown_audit_word:
        rows.append(_chunk(8, 1, 0, 2, 0, "SKIPPED", 2, version=2))
    return rows


def _chunk(
    row_id: int,
    trajectory: int,
    traj: int,
    index: int,
    attempt: int,
    audit: str,
    frames: int,
    *,
    version: int,
) -> dict[str, Any]:
    return {
        "id": row_id,
        "run_id": RUN,
        "trajectory_id": trajectory,
        "traj_id": traj,
        "chunk_id": index,
        "attempt_index": attempt,
        "model_version": version,
        "audit_status": audit,
        "n_frames": frames,
        "created_at": T0 + timedelta(hours=1, minutes=row_id),
    }


def frames() -> list[tuple[Atoms, dict[str, Any]]]:
    """Frames of attempts 1, 2 and 4 (4's without an attempt_index: its chunk has one
    attempt); then one of a chunk the tables lack, one of refused attempt 6, one without
    a chunk_id."""
    placed = {"run_id": RUN, "traj_id": 0, "chunk_id": 0}
    found = []
    for attempt in (0, 1):
        for step in range(2):
            atoms = WATER.copy()
            atoms.positions[0, 2] += 0.01 * step + 0.1 * attempt
            atoms.calc = SinglePointCalculator(
                atoms,
                energy=-14.0 - step - attempt,
                forces=[[0.0, 0.0, 0.1 * step], [0.0, 0.1, 0.0], [0.0, -0.1, 0.0]],
            )
            found.append((atoms, {**placed, "attempt_index": attempt, "step": step}))
    for step in range(2):
        atoms = COPPER.copy()
        atoms.positions[0, 0] = 0.05 * step
        found.append((atoms, {"run_id": RUN, "traj_id": 1, "chunk_id": 0}))
    found.append((WATER.copy(), {**placed, "chunk_id": 7, "attempt_index": 0}))
    found.append((WATER.copy(), {**placed, "chunk_id": 3, "attempt_index": 0}))
    found.append((WATER.copy(), {"run_id": RUN, "traj_id": 0}))
    return found


REFUSED = {
    ("Trajectory", "3"): "target_length must be 0 or more, not -5.",
    ("Trajectory", "4"): "its atomic number 200 is no element's",
    ("Chunk", "5"): "its trajectory (run_id 'cascade-run-1', traj_id 9) is not in the store's "
    "trajectories table",
    ("Chunk", "6"): "n_frames must be 0 or more, not -1.",
    ("Chunk", "7"): "its trajectory (run_id 'cascade-run-1', traj_id 2) was refused",
    ("Chunk", "8"): "its audit_status 'SKIPPED' is not one of PENDING, PASSED, FAILED",
    ("Frame", "7"): "attempt_index 0) is not in the store's trajectory_chunks table",
    ("Frame", "8"): "attempt_index 0) was refused",
    ("Frame", "9"): "it has no chunk_id key-value pair",
}
CREATED = {"Run": 2, "Trajectory": 3, "Chunk": 4, "Frame": 6}


def write_sqlite(path: Path, chunks: list[dict[str, Any]] | None = None) -> None:
    """The engine's tables, created by its models, and its ASE database, in one file."""
    engine = create_engine(f"sqlite:///{path}")
    SourceBase.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(DBTrajectory), trajectory_rows())
        connection.execute(insert(DBTrajectoryChunk), chunk_rows() if chunks is None else chunks)
    engine.dispose()
    write_ase_sqlite(path)


def write_ase_sqlite(path: Path) -> None:
    database = ase.db.connect(str(path), type="db")
    for atoms, pairs in frames():
        database.write(atoms, **pairs)


# ASE's PostgreSQL schema: its SQLite one with arrays and JSONB (ase_db_backends.postgresql)
_ARRAYS = {"numbers": "INTEGER[]", "tags": "INTEGER[]", "positions": "DOUBLE PRECISION[][]"}


def _postgres_schema() -> str:
    sql = ";\n".join(init_statements)
    sql = sql.replace("REAL", "DOUBLE PRECISION").replace(
        "INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY"
    )
    for column in ("initial_magmoms", "initial_charges", "masses", "momenta", "stress"):
        sql = sql.replace(f"{column} BLOB,", f"{column} DOUBLE PRECISION[],")
    for column in ("dipole", "magmoms", "charges"):
        sql = sql.replace(f"{column} BLOB,", f"{column} DOUBLE PRECISION[],")
    for column in ("cell", "forces"):
        sql = sql.replace(f"{column} BLOB,", f"{column} DOUBLE PRECISION[][],")
    for column, kind in _ARRAYS.items():
        sql = sql.replace(f"{column} BLOB,", f"{column} {kind},")
    for column in ("calculator_parameters", "key_value_pairs"):
        sql = sql.replace(f"{column} TEXT,", f"{column} JSONB,")
    return sql.replace("data BLOB,", "data JSONB,")


async def write_postgres(url: str, chunks: list[dict[str, Any]]) -> None:
    """The engine's tables, created by its models, and its ASE database, in one database."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(SourceBase.metadata.create_all)
        await connection.execute(insert(DBTrajectory), trajectory_rows())
        await connection.execute(insert(DBTrajectoryChunk), chunks)
    await engine.dispose()
    database = await asyncpg.connect(_dsn(url))
    try:
        await database.execute(_postgres_schema())
        for atoms, pairs in frames():
            calculator = atoms.calc
            await database.execute(
                "INSERT INTO systems (unique_id, numbers, positions, cell, pbc, energy, forces,"
                " key_value_pairs, natoms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                uuid.uuid4().hex,
                atoms.numbers.tolist(),
                atoms.positions.tolist(),
                atoms.cell.tolist(),
                int((atoms.pbc * [1, 2, 4]).sum()),
                None if calculator is None else calculator.results["energy"],
                None if calculator is None else calculator.results["forces"].tolist(),
                json.dumps(pairs),
                len(atoms),
            )
    finally:
        await database.close()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Recorded(Progress):
    def __init__(self) -> None:
        self.tables: list[tuple[str, int | None, int]] = []

    def begin(self, name: str, total: int | None) -> None:
        self.tables.append((name, total, 0))

    def advance(self, rows: int) -> None:
        name, total, done = self.tables[-1]
        self.tables[-1] = (name, total, done + rows)


async def run(
    engine: AsyncEngine, location: str, *, dry_run: bool = False, progress: Progress | None = None
) -> ImportReport:
    report = ImportReport("cascade", dry_run)
    return await import_cascade(
        engine, location, ImportOptions(dry_run=dry_run), progress or Recorded(), report
    )


def created(report: ImportReport) -> dict[str, int]:
    return {name: counts.created for name, counts in report.counts.items() if counts.created}


def refusals(report: ImportReport) -> dict[tuple[str, str | None], str]:
    return {(r.entity, r.source_id): r.reason for r in report.refusals}


def check_refusals(report: ImportReport, expected: dict[tuple[str, str], str]) -> None:
    found = refusals(report)
    assert set(found) == set(expected)
    for key, reason in expected.items():
        assert reason in found[key], (key, found[key])


@pytest.fixture
async def target(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Path:
    path = tmp_path / "cascade.db"
    write_sqlite(path)
    return path


async def graphql(engine: AsyncEngine, query: str) -> dict[str, Any]:
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


READ_BACK = """{
  runs(first: 10) { nodes { name status phase attributes startedAt
    trajectories(first: 10) { nodes { index targetLength initAtoms chunksCompleted createdAt
      chunks(first: 10) { nodes { index attempt modelVersion auditStatus frameCount frames
        createdAt } } } } } }
  events(first: 100) { nodes { type actor subjectType payload } }
}"""


def _check_read_back(data: dict[str, Any]) -> None:
    runs = {r["name"]: r for r in data["runs"]["nodes"]}
    assert set(runs) == {RUN, IDLE_RUN}
    busy, idle = runs[RUN], runs[IDLE_RUN]
    assert (busy["status"], busy["phase"], busy["attributes"]) == (
        "RUNNING",
        None,
        {"imported_from": "cascade"},
    )
    assert busy["startedAt"] is not None
    assert (idle["status"], idle["startedAt"]) == ("PENDING", None)
    trajectories = busy["trajectories"]["nodes"]
    assert [(t["index"], t["targetLength"], t["chunksCompleted"]) for t in trajectories] == [
        (0, 4, [0]),
        (1, 2, [0]),
    ]
    water = trajectories[0]
    assert water["initAtoms"] == {
        "symbols": ["O", "H", "H"],
        "positions": WATER.positions.tolist(),
        "cell": WATER.cell.tolist(),
        "pbc": [True, True, True],
    }
    assert datetime.fromisoformat(water["createdAt"]) == T0 + timedelta(minutes=1)
    chunks = water["chunks"]["nodes"]
    assert [
        (c["index"], c["attempt"], c["modelVersion"], c["auditStatus"], c["frameCount"])
        for c in chunks
    ] == [(0, 1, "1", "FAILED", 2), (0, 2, "2", "PASSED", 2), (1, 1, "2", "PENDING", 2)]
    assert datetime.fromisoformat(chunks[0]["createdAt"]) == T0 + timedelta(hours=1, minutes=1)
    passed = chunks[1]["frames"]
    assert len(passed) == 2
    first = passed[0]
    assert first["symbols"] == ["O", "H", "H"]
    assert first["positions"][0] == pytest.approx([0.0, 0.0, 0.217])
    assert first["cell"] == WATER.cell.tolist()
    assert first["pbc"] == [True, True, True]
    assert first["energy"] == -15.0
    assert first["forces"] == [[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, -0.1, 0.0]]
    assert first["key_value_pairs"] == {
        "run_id": RUN,
        "traj_id": 0,
        "chunk_id": 0,
        "attempt_index": 1,
        "step": 0,
    }
    assert passed[1]["key_value_pairs"]["step"] == 1
    assert passed[0]["ase_id"] < passed[1]["ase_id"]
    assert [f["energy"] for f in chunks[0]["frames"]] == [-14.0, -15.0]
    assert chunks[2]["frames"] is None
    [copper] = trajectories[1]["chunks"]["nodes"]
    assert [f["positions"] for f in copper["frames"]] == [[[0.0, 0.0, 0.0]], [[0.05, 0.0, 0.0]]]
    assert copper["frames"][0]["pbc"] == [True, True, False]
    assert "energy" not in copper["frames"][0]
    assert idle["trajectories"]["nodes"][0]["chunks"]["nodes"] == []

    mine = [
        (e["subjectType"], e["type"], e["payload"].get("to"))
        for e in data["events"]["nodes"]
        if e["actor"] == "import:cascade"
    ]
    assert sorted(mine, key=str) == sorted(
        [("Run", "created", None)] * 2
        + [("Trajectory", "created", None)] * 3
        + [("Chunk", "created", None)] * 4
        + [("Run", "status_changed", "RUNNING")],
        key=str,
    )
    created_events = {
        (e["payload"]["index"], e["payload"]["attempt"]): e["payload"]
        for e in data["events"]["nodes"]
        if e["subjectType"] == "Chunk"
    }
    assert created_events[(0, 2)]["audit_status"] == "PASSED"
    assert created_events[(0, 2)]["frames"] == 2
    assert "frames" not in created_events[(1, 1)]


async def test_the_registry_names_the_importer() -> None:
    assert source("cascade").run is import_cascade


async def test_sqlite_store_is_imported_and_read_back(
    sqlite_store: Path, target: AsyncEngine
) -> None:
    report = await run(target, str(sqlite_store))

    assert created(report) == CREATED
    check_refusals(report, REFUSED)
    assert report.of("Chunk").read == 8
    assert report.of("Frame").read == 9
    _check_read_back(await graphql(target, READ_BACK))


async def test_a_second_run_adds_nothing(sqlite_store: Path, target: AsyncEngine) -> None:
    await run(target, f"sqlite:///{sqlite_store}")
    before = await snapshot(target)

    again = await run(target, f"sqlite:///{sqlite_store}")

    assert created(again) == {}
    assert {name: c.present for name, c in again.counts.items() if c.present} == CREATED
    check_refusals(again, REFUSED)
    assert await snapshot(target) == before


async def test_a_dry_run_writes_nothing(sqlite_store: Path, target: AsyncEngine) -> None:
    before = await snapshot(target)

    report = await run(target, str(sqlite_store), dry_run=True)

    assert created(report) == CREATED
    check_refusals(report, REFUSED)
    assert await snapshot(target) == before


async def test_postgres_store_with_its_frames_in_the_same_database(
    databases: DatabaseFactory, target: AsyncEngine
) -> None:
    url = await databases.create()
    await write_postgres(url, chunk_rows(unknown_audit_word=False))

    report = await run(target, _dsn(url))

    assert created(report) == CREATED
    expected = {key: reason for key, reason in REFUSED.items() if key != ("Chunk", "8")}
    check_refusals(report, expected)
    _check_read_back(await graphql(target, READ_BACK))

    before = await snapshot(target)
    again = await run(target, _dsn(url))
    assert created(again) == {}
    assert await snapshot(target) == before


async def test_frames_in_another_database(tmp_path: Path, target: AsyncEngine) -> None:
    tables, frames_file = tmp_path / "tables.db", tmp_path / "frames.db"
    engine = create_engine(f"sqlite:///{tables}")
    SourceBase.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(DBTrajectory), trajectory_rows())
        connection.execute(insert(DBTrajectoryChunk), chunk_rows())
    engine.dispose()
    write_ase_sqlite(frames_file)

    without = await run(target, str(tables), dry_run=True)
    assert without.of("Frame").read == 0
    report = await run(target, f"sqlite:///{tables}?ase={frames_file}")

    assert created(report) == CREATED
    check_refusals(report, REFUSED)
    # ase's connect would have made its tables in a file without them
    with create_engine(f"sqlite:///{tables}").connect() as connection:
        names = set(connection.execute(text("SELECT name FROM sqlite_master")).scalars())
    assert "systems" not in names


async def test_an_interrupted_run_finishes_when_run_again(
    sqlite_store: Path, target: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one attempt per transaction; the third fails
    monkeypatch.setattr(cascade, "CHUNK_ROWS", 1)
    inserted = 0
    real_driver = cascade._Import.driver

    async def failing_driver(self: cascade._Import) -> Any:
        driver = await real_driver(self)

        class Proxy:
            def __getattr__(self, name: str) -> Any:
                return getattr(driver, name)

            async def fetch(self, statement: str, *args: Any) -> Any:
                nonlocal inserted
                if statement == cascade._INSERT_CHUNKS:
                    inserted += 1
                    if inserted == 3:
                        raise ConnectionError("the network went away")
                return await driver.fetch(statement, *args)

        return Proxy()

    monkeypatch.setattr(cascade._Import, "driver", failing_driver)
    with pytest.raises(ConnectionError):
        await run(target, str(sqlite_store))
    async with target.connect() as connection:
        kept = await connection.scalar(text("SELECT count(*) FROM chunks"))
    assert kept == 2

    monkeypatch.setattr(cascade._Import, "driver", real_driver)
    report = await run(target, str(sqlite_store))

    assert (report.of("Chunk").present, report.of("Chunk").created) == (2, 2)
    assert (report.of("Frame").present, report.of("Frame").created) == (4, 2)
    async with target.connect() as connection:
        counts = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM chunks),"
                    " (SELECT sum(jsonb_array_length(frames)) FROM chunks),"
                    " (SELECT count(*) FROM events WHERE type = 'created'"
                    "  AND subject_type = 'Chunk'),"
                    " (SELECT status FROM runs WHERE name = :run)"
                ),
                {"run": RUN},
            )
        ).one()
    assert tuple(counts) == (4, 6, 4, "RUNNING")


def _audit(word: str) -> Any:
    """The engine's audit of attempt 3 (chunk 1 of trajectory 0)."""
    return text("UPDATE trajectory_chunks SET audit_status = :word WHERE id = 3").bindparams(
        word=word
    )


async def test_an_audit_made_since_moves_the_attempt_and_the_run_on(
    tmp_path: Path, target: AsyncEngine
) -> None:
    path = tmp_path / "cascade.db"
    write_sqlite(path)
    await run(target, str(path))
    # the engine audits attempt 3 (chunk 1 of trajectory 0), which completes it
    with create_engine(f"sqlite:///{path}").begin() as connection:
        connection.execute(
            text("UPDATE trajectory_chunks SET audit_status = 'PASSED' WHERE id = 3")
        )
        connection.execute(text("UPDATE trajectories SET done = 1 WHERE id = 1"))

    report = await run(target, str(path))

    assert created(report) == {}
    data = await graphql(
        target,
        """{ runs(first: 10, where: {name: {eq: "cascade-run-1"}}) { nodes { status endedAt
               trajectories(first: 1) { nodes { chunksCompleted } }
               events(first: 10) { nodes { type payload } } } } }""",
    )
    [found] = data["runs"]["nodes"]
    assert found["status"] == "SUCCEEDED"
    assert found["endedAt"] is not None
    assert found["trajectories"]["nodes"][0]["chunksCompleted"] == [0, 1]
    changes = [e["payload"] for e in found["events"]["nodes"] if e["type"] == "status_changed"]
    assert changes == [{"from": "PENDING", "to": "RUNNING"}, {"from": "RUNNING", "to": "SUCCEEDED"}]
    async with target.connect() as connection:
        audit = (
            (
                await connection.execute(
                    text(
                        "SELECT e.payload::text FROM events e JOIN chunks c ON c.id = e.subject_id"
                        " WHERE e.subject_type = 'Chunk' AND e.type = 'audit_status_changed'"
                        " AND e.actor = 'import:cascade' AND c.index = 1"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [json.loads(a) for a in audit] == [{"from": "PENDING", "to": "PASSED"}]

    # an audit result is final: the engine's store cannot take it back
    with create_engine(f"sqlite:///{path}").begin() as connection:
        connection.execute(
            text("UPDATE trajectory_chunks SET audit_status = 'FAILED' WHERE id = 3")
        )
    refused = await run(target, str(path))
    assert (
        "was audited PASSED in scimeta and is FAILED in the store"
        in refusals(refused)[("Chunk", "3")]
    )


async def test_progress_is_reported_per_kind_of_row(
    sqlite_store: Path, target: AsyncEngine
) -> None:
    progress = Recorded()
    await run(target, str(sqlite_store), progress=progress)
    assert progress.tables == [
        ("Run", 2, 2),
        ("Trajectory", 5, 5),
        ("Frame", 9, 9),
        ("Chunk", 8, 8),
    ]


def test_frames_decode_as_ase_decodes_them(sqlite_store: Path) -> None:
    # the SQLite blobs read directly, and through ase.db (which older layouts go through)
    direct = [frame for batch in FrameSource._sqlite_batches(sqlite_store) for frame in batch]
    through_ase = [frame for batch in FrameSource._ase_batches(sqlite_store) for frame in batch]
    assert len(direct) == len(frames())
    assert direct == through_ase
