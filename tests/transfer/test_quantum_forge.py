"""A Quantum Forge store, on PostgreSQL and as a SQLite copy with its results directory,
imported: read back through GraphQL; a second run adds nothing; a dry run writes nothing;
rows the store holds but scimeta cannot take are refused with their reasons while the
rest go in; an interrupted run finishes when run again."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.transfer.labs import quantum_forge_atoms, quantum_forge_calculations
from scimeta.transfer.labs.quantum_forge import import_quantum_forge
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, source
from tests.conftest import DatabaseFactory, started
from tests.transfer.conftest import snapshot
from tests.transfer.quantum_forge_store import Rows, write_postgres, write_sqlite

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WATER_XYZ = b"3\nwater\nO 0 0 0.117\nH 0 0.757 -0.467\nH 0 -0.757 -0.467\n"


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _atom(
    atom_id: int, calculation: int, index: int, element: str, number: int, **more: Any
) -> dict[str, Any]:
    return {
        "id": atom_id,
        "calculation_id": calculation,
        "atom_index": index,
        "element": element,
        "atomic_number": number,
        "partial_charge": more.pop("charge", -0.1 * index),
        "position_x": 0.1 * index,
        "position_y": 0.2,
        "position_z": -0.3,
        **more,
    }


def store_rows() -> dict[str, list[dict[str, Any]]]:
    """Molecules 2 and 3 are one structure; molecule 4 does not parse. Calculation 4 is of
    that molecule, 5 has an unknown status word and 6 a negative gap (which the store takes
    and scimeta refuses); atoms 20 to 23 are refused, batch 2 and items 4 to 6 too, events
    5 and 6 as well."""
    calculation = {"execution_time_seconds": 1.5, "xtb_version": "6.7.1"}
    return {
        "molecules": [
            {
                "id": 1,
                "name": "water",
                "smiles": "O",
                "formula": "H2O",
                "created_at": _at(0),
                "metadata": {"source": "pubchem"},
            },
            {"id": 2, "name": "ethanol", "smiles": "CCO", "formula": "C2H6O", "created_at": _at(1)},
            {
                "id": 3,
                "name": "ethanol again",
                "smiles": "OCC",
                "formula": "C2H6O",
                "created_at": _at(2),
            },
            {"id": 4, "name": "broken", "smiles": "C1CC", "formula": "C3", "created_at": _at(3)},
            {
                "id": 5,
                "name": "benzene",
                "smiles": "c1ccccc1",
                "formula": "C6H6",
                "created_at": _at(4),
            },
        ],
        "calculations": [
            {
                "id": 1,
                "molecule_id": 1,
                "energy": -5.07,
                "homo": -12.1,
                "lumo": 2.4,
                "gap": 14.5,
                "dipole": 2.1,
                "convergence_status": "converged",
                "created_at": _at(10),
                "xyz_file_hash": hashlib.sha256(WATER_XYZ).hexdigest(),
                "output_json_path": "/workspace/jobs/water_1/xtbout.json",
                "metadata": {"accuracy": 1.0},
                **calculation,
            },
            {
                "id": 2,
                "molecule_id": 2,
                "energy": -11.4,
                "convergence_status": "not_converged",
                "created_at": _at(11),
                **calculation,
            },
            {
                "id": 3,
                "molecule_id": 3,
                "energy": -11.5,
                "gap": 6.2,
                "dipole": 1.6,
                "method": "GFN1-xTB",
                "convergence_status": "converged",
                "created_at": _at(12),
                "solvation": "ALPB",
                **calculation,
            },
            {
                "id": 4,
                "molecule_id": 4,
                "energy": -1.0,
                "convergence_status": "converged",
                "created_at": _at(13),
                **calculation,
            },
            {
                "id": 5,
                "molecule_id": 5,
                "energy": -15.0,
                "convergence_status": "exploded",
                "created_at": _at(14),
                **calculation,
            },
            {
                "id": 6,
                "molecule_id": 5,
                "energy": -15.1,
                "gap": -0.3,
                "convergence_status": "converged",
                "created_at": _at(15),
                **calculation,
            },
        ],
        "atomic_properties": [
            _atom(
                1,
                1,
                0,
                "O",
                8,
                charge=-0.56,
                force_x=0.01,
                force_y=0.0,
                force_z=-0.02,
                orbital_energy=-0.7,
            ),
            _atom(2, 1, 1, "H", 1, charge=0.28),
            _atom(3, 1, 2, "H", 1, charge=0.28, metadata={"label": "H2"}),
            _atom(10, 3, 0, "C", 6),
            _atom(11, 3, 1, "C", 6),
            _atom(12, 3, 2, "O", 8),
            # refused: the calculation was refused; an element the periodic table lacks;
            # an index given twice; an atomic number of another element
            _atom(20, 4, 0, "C", 6),
            _atom(21, 3, 3, "Xx", 6),
            _atom(22, 3, 2, "O", 8),
            _atom(23, 3, 4, "H", 6),
        ],
        "batch_jobs": [
            {
                "id": 1,
                "batch_name": "screen-1",
                "description": "alcohols",
                "status": "completed",
                "parameters": {"method": "GFN2-xTB", "solvent": "water"},
                "created_at": _at(5),
                "started_at": _at(6),
                "completed_at": _at(20),
                "total_molecules": 3,
            },
            {"id": 2, "batch_name": "paused", "status": "paused", "created_at": _at(7)},
        ],
        "batch_items": [
            {
                "id": 1,
                "batch_id": 1,
                "molecule_id": 1,
                "status": "completed",
                "calculation_id": 1,
                "created_at": _at(5),
            },
            {
                "id": 2,
                "batch_id": 1,
                "molecule_id": 2,
                "status": "failed",
                "calculation_id": 2,
                "error_message": "SCF failed",
                "retry_count": 2,
                "created_at": _at(5),
            },
            {"id": 3, "batch_id": 1, "molecule_id": 5, "status": "skipped", "created_at": _at(5)},
            # refused: the same structure as item 2's; a refused batch; a calculation of
            # another molecule
            {"id": 4, "batch_id": 1, "molecule_id": 3, "status": "pending", "created_at": _at(5)},
            {"id": 5, "batch_id": 2, "molecule_id": 1, "status": "pending", "created_at": _at(7)},
            {"id": 6, "batch_id": 1, "molecule_id": 4, "status": "pending", "created_at": _at(5)},
        ],
        "event_logs": [
            {
                "id": 1,
                "event_type": "calculation_completed",
                "entity_type": "calculations",
                "entity_id": 1,
                "status": "success",
                "context": {"energy": -5.07},
                "created_at": _at(10),
                "service": "worker",
            },
            {
                "id": 2,
                "event_type": "batch_completed",
                "entity_type": "batches",
                "entity_id": 1,
                "status": "success",
                "created_at": _at(20),
                "service": "api",
            },
            {
                "id": 3,
                "event_type": "worker_lost",
                "entity_type": "system",
                "status": "error",
                "error_message": "worker 3 stopped answering",
                "error_code": "W001",
                "created_at": _at(21),
                "service": "worker",
            },
            {
                "id": 4,
                "event_type": "molecule_deleted",
                "entity_type": "molecules",
                "entity_id": 42,
                "status": "warning",
                "created_at": _at(22),
                "service": "api",
            },
            {
                "id": 5,
                "event_type": "odd",
                "entity_type": "system",
                "status": "meh",
                "created_at": _at(23),
                "service": "api",
            },
            {
                "id": 6,
                "event_type": "calculation_completed",
                "entity_type": "calculations",
                "entity_id": 4,
                "status": "success",
                "created_at": _at(13),
                "service": "worker",
            },
        ],
    }


REFUSED = {
    ("Molecule", "4"): "not a valid SMILES",
    ("Calculation", "4"): "its molecule 4 was refused",
    ("Calculation", "5"): "convergence_status 'exploded' is not one of",
    ("Calculation", "6"): "gap cannot be negative (got -0.3)",
    ("AtomicProperty", "20"): "its calculation 4 was refused",
    ("AtomicProperty", "21"): "its element 'Xx' is not an element symbol",
    ("AtomicProperty", "22"): "atom_index 2 of calculation 3 is given twice",
    ("AtomicProperty", "23"): "atomic_number 6 is not that of its element H (1)",
    ("Batch", "2"): "its status 'paused' is not one of",
    ("BatchItem", "4"): "puts the same molecule (by canonical SMILES) in the same batch",
    ("BatchItem", "5"): "its batch 2 was refused",
    ("BatchItem", "6"): "its molecule 4 was refused",
    ("Event", "5"): "its status 'meh' is not one of",
    ("Event", "6"): "its subject, calculations 4, was refused",
}
CREATED = {
    "Molecule": 3,
    "Calculation": 3,
    "AtomicProperty": 6,
    "Batch": 1,
    "BatchItem": 3,
    "Event": 4,
}


class Recorded(Progress):
    def __init__(self) -> None:
        self.tables: list[tuple[str, int | None, int]] = []

    def begin(self, name: str, total: int | None) -> None:
        self.tables.append((name, total, 0))

    def advance(self, rows: int) -> None:
        name, total, done = self.tables[-1]
        self.tables[-1] = (name, total, done + rows)


async def run(engine: AsyncEngine, location: str, *, dry_run: bool = False) -> ImportReport:
    report = ImportReport("quantum-forge", dry_run)
    return await import_quantum_forge(
        engine, location, ImportOptions(dry_run=dry_run), Recorded(), report
    )


def created(report: ImportReport) -> dict[str, int]:
    return {name: counts.created for name, counts in report.counts.items() if counts.created}


@pytest.fixture
async def postgres_store(databases: DatabaseFactory) -> str:
    """The store in a database of its own, as its lab has it."""
    url = await databases.create()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    await write_postgres(dsn, store_rows())
    return dsn


@pytest.fixture
async def target(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


async def graphql(engine: AsyncEngine, query: str) -> dict[str, Any]:
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


READ_BACK = """{
  molecules(first: 10) { nodes { smiles name formula attributes
    calculations(first: 10) { nodes { method status energy gap dipole executionSeconds
      finishedAt error attributes
      atomicProperties(first: 10) { nodes { atomIndex element charge values } } } } } }
  batches(first: 10) { nodes { name description method status startedAt finishedAt attributes
    progress { total succeeded failed cancelled }
    items(first: 10) { nodes { status molecule { smiles } calculation { energy } } } } }
  events(first: 100) { nodes { type at level actor subjectType payload } }
}"""


async def test_the_registry_names_the_importer() -> None:
    assert source("quantum-forge").run is import_quantum_forge


async def test_postgres_store_is_imported_and_read_back(
    postgres_store: str, target: AsyncEngine
) -> None:
    report = await run(target, postgres_store)

    assert created(report) == CREATED
    assert report.of("Molecule").present == 1  # OCC is CCO
    refused = {(r.entity, r.source_id): r.reason for r in report.refusals}
    assert set(refused) == set(REFUSED)
    for key, reason in REFUSED.items():
        assert reason in refused[key], (key, refused[key])

    data = await graphql(target, READ_BACK)
    molecules = {m["smiles"]: m for m in data["molecules"]["nodes"]}
    assert set(molecules) == {"O", "CCO", "c1ccccc1"}
    water = molecules["O"]
    assert water["name"] == "water"
    assert water["formula"] == "H2O"
    assert water["attributes"] == {"source_id": 1, "metadata": {"source": "pubchem"}}
    [calculation] = water["calculations"]["nodes"]
    assert calculation["status"] == "SUCCEEDED"
    assert (calculation["energy"], calculation["gap"], calculation["dipole"]) == (-5.07, 14.5, 2.1)
    assert calculation["executionSeconds"] == 1.5
    assert datetime.fromisoformat(calculation["finishedAt"]) == _at(10)
    assert calculation["attributes"]["homo"] == -12.1
    assert calculation["attributes"]["metadata"] == {"accuracy": 1.0}
    atoms = calculation["atomicProperties"]["nodes"]
    assert [(a["atomIndex"], a["element"], a["charge"]) for a in atoms] == [
        (0, "O", -0.56),
        (1, "H", 0.28),
        (2, "H", 0.28),
    ]
    assert atoms[0]["values"] == {
        "position": [0.0, 0.2, -0.3],
        "force": [0.01, 0.0, -0.02],
        "orbital_energy": -0.7,
    }
    assert atoms[2]["values"]["metadata"] == {"label": "H2"}
    ethanol = {c["method"]: c for c in molecules["CCO"]["calculations"]["nodes"]}
    assert ethanol["GFN2-xTB"]["status"] == "FAILED"
    assert "not_converged" in ethanol["GFN2-xTB"]["error"]
    assert ethanol["GFN1-xTB"]["attributes"]["solvation"] == "ALPB"
    assert len(ethanol["GFN1-xTB"]["atomicProperties"]["nodes"]) == 3
    assert molecules["c1ccccc1"]["calculations"]["nodes"] == []

    [batch] = data["batches"]["nodes"]
    assert (batch["name"], batch["status"], batch["method"]) == (
        "screen-1",
        "SUCCEEDED",
        "GFN2-xTB",
    )
    assert batch["attributes"]["parameters"] == {"method": "GFN2-xTB", "solvent": "water"}
    assert datetime.fromisoformat(batch["finishedAt"]) == _at(20)
    assert batch["progress"] == {"total": 3, "succeeded": 1, "failed": 1, "cancelled": 1}
    items = {i["molecule"]["smiles"]: i for i in batch["items"]["nodes"]}
    assert items["O"]["calculation"] == {"energy": -5.07}
    assert items["CCO"]["status"] == "FAILED"
    assert items["c1ccccc1"]["status"] == "CANCELLED"

    events = data["events"]["nodes"]
    logged = {
        e["payload"].get("source_id"): e for e in events if e["actor"] != "import:quantum-forge"
    }
    assert set(logged) == {1, 2, 3, 4}
    assert logged[1]["subjectType"] == "Calculation"
    assert datetime.fromisoformat(logged[1]["at"]) == _at(10)
    assert (logged[1]["level"], logged[1]["actor"]) == ("INFO", "worker")
    assert logged[1]["payload"]["context"] == {"energy": -5.07}
    assert logged[2]["subjectType"] == "Batch"
    # a service event, and one about a molecule the store no longer has: no subject
    assert (logged[3]["subjectType"], logged[3]["level"]) == (None, "ERROR")
    assert logged[3]["payload"]["error_code"] == "W001"
    assert (logged[4]["subjectType"], logged[4]["level"]) == (None, "WARNING")
    mine = [(e["subjectType"], e["type"]) for e in events if e["actor"] == "import:quantum-forge"]
    assert sorted(mine) == sorted(
        [("Molecule", "created")] * 3
        + [("Calculation", "created")] * 3
        + [("Batch", "created")]
        + [("BatchItem", "created")] * 3
    )


async def test_a_second_run_adds_nothing(postgres_store: str, target: AsyncEngine) -> None:
    await run(target, postgres_store)
    before = await snapshot(target)

    again = await run(target, postgres_store)

    assert created(again) == {}
    assert {name: c.present for name, c in again.counts.items() if c.present} == CREATED | {
        "Molecule": 4
    }
    assert len(again.refusals) == len(REFUSED)
    assert await snapshot(target) == before


async def test_a_dry_run_writes_nothing(postgres_store: str, target: AsyncEngine) -> None:
    before = await snapshot(target)

    report = await run(target, postgres_store, dry_run=True)

    assert created(report) == CREATED
    assert len(report.refusals) == len(REFUSED)
    assert await snapshot(target) == before


async def test_an_interrupted_run_finishes_when_run_again(
    postgres_store: str, target: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one calculation per transaction; the second range of atoms fails
    monkeypatch.setattr(quantum_forge_calculations, "ATOM_ROWS", 1)
    inserted = quantum_forge_atoms.AtomImport.insert
    calls = 0

    async def failing(self: quantum_forge_atoms.AtomImport, atoms: Any) -> dict[int, int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the network went away")
        return await inserted(self, atoms)

    monkeypatch.setattr(quantum_forge_atoms.AtomImport, "insert", failing)
    with pytest.raises(ConnectionError):
        await run(target, postgres_store)
    async with target.connect() as connection:
        kept = await connection.scalar(text("SELECT count(*) FROM calculations"))
    assert kept == 1

    report = await run(target, postgres_store)

    assert report.of("Calculation").present == 1
    assert report.of("Calculation").created == 2
    async with target.connect() as connection:
        counts = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM calculations),"
                    " (SELECT count(*) FROM atomic_properties),"
                    " (SELECT count(*) FROM events WHERE type = 'created'"
                    "  AND subject_type = 'Calculation')"
                )
            )
        ).one()
    assert tuple(counts) == (3, 6, 3)


async def test_sqlite_copy_with_its_results_directory(tmp_path: Path, target: AsyncEngine) -> None:
    rows: Rows = store_rows()
    # SQLite keeps an atom of a calculation the store does not have
    rows["atomic_properties"].append(_atom(30, 99, 0, "C", 6))  # type: ignore[attr-defined]
    database = tmp_path / "quantum_forge.db"
    write_sqlite(database, rows)
    job = tmp_path / "jobs" / "water_1"
    job.mkdir(parents=True)
    (job / "structure.xyz").write_bytes(WATER_XYZ)
    (job / "xtbout.json").write_text('{"total energy": -5.07}')

    report = await run(target, f"sqlite:///{database}")

    assert created(report) == CREATED | {"File": 2}
    refused = {(r.entity, r.source_id): r.reason for r in report.refusals}
    assert set(refused) == set(REFUSED) | {("AtomicProperty", "30")}
    assert (
        "its calculation 99 is not in the store's calculations table"
        in refused[("AtomicProperty", "30")]
    )
    data = await graphql(
        target,
        """{ files(first: 10) { nodes { id name path sizeBytes checksum checksumAlgorithm } }
             calculations(first: 10, where: {method: {eq: "GFN2-xTB"}, status: {eq: SUCCEEDED}})
               { nodes { attributes } } }""",
    )
    files = {f["name"]: f for f in data["files"]["nodes"]}
    assert set(files) == {"structure.xyz", "xtbout.json"}
    assert files["structure.xyz"]["sizeBytes"] == len(WATER_XYZ)
    assert files["structure.xyz"]["checksum"] == hashlib.sha256(WATER_XYZ).hexdigest()
    assert files["structure.xyz"]["path"] == str((job / "structure.xyz").resolve())
    [calculation] = data["calculations"]["nodes"]
    assert [f["id"] for f in calculation["attributes"]["files"]] == [
        files["structure.xyz"]["id"],
        files["xtbout.json"]["id"],
    ]

    before = await snapshot(target)
    again = await run(target, str(database))
    assert created(again) == {}
    assert again.of("File").present == 2
    assert await snapshot(target) == before


async def test_a_changed_structure_file_is_refused(tmp_path: Path, target: AsyncEngine) -> None:
    database = tmp_path / "store.db"
    write_sqlite(database, store_rows())
    results = tmp_path / "elsewhere"
    (results / "water_1").mkdir(parents=True)
    (results / "water_1" / "structure.xyz").write_bytes(WATER_XYZ + b"# edited\n")

    report = await run(target, f"sqlite:///{database}?results={results}")

    [refusal] = [r for r in report.refusals if r.entity == "File"]
    assert "is not the xyz_file_hash" in refusal.reason
    assert refusal.location.endswith("structure.xyz")
    assert report.of("File").created == 0
    assert report.of("Calculation").created == 3


async def test_progress_is_reported_per_kind_of_row(
    postgres_store: str, target: AsyncEngine
) -> None:
    progress = Recorded()
    await import_quantum_forge(
        target, postgres_store, ImportOptions(), progress, ImportReport("quantum-forge", False)
    )
    assert progress.tables == [
        ("Molecule", 5, 5),
        ("File", None, 0),
        ("Calculation+AtomicProperty", 3 + 10, 3 + 6),
        ("Batch+BatchItem", 8, 8),
        ("Event", 6, 6),
    ]
