"""The AONP run service's MongoDB collections, exported by mongoexport (canonical and
relaxed extended JSON, one document per line and --jsonArray), imported: read back through
GraphQL; a second run adds nothing; a dry run writes nothing; documents the service holds
but scimeta cannot take are refused with their reasons while the rest go in; an
interrupted run finishes when run again."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import Int64, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, RELAXED_JSON_OPTIONS, JSONOptions
from bson.objectid import ObjectId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs import aonp_runs
from scimeta.transfer.labs.aonp_export import read_documents
from scimeta.transfer.labs.aonp_mongo import import_aonp_mongo
from scimeta.transfer.labs.aonp_state import ImportState
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, source
from scimeta.writes.runs import spec_hash
from tests.conftest import DatabaseFactory, started
from tests.transfer.conftest import snapshot

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PINCELL = {
    "name": "pincell",
    "materials": {"fuel": {"enrichment": 4.25}, "moderator": {"boron_ppm": 600}},
    "settings": {"batches": 100, "inactive": 20, "particles": 10000},
}
# the same name, another spec; the run service hashed it its own way
PINCELL_HOT = {
    "name": "pincell",
    "materials": {"fuel": {"enrichment": 4.25, "temperature": 900}},
    "settings": {"batches": 50, "inactive": 10, "particles": 5000},
}
HOT_HASH = hashlib.sha256(b"pincell-hot as the run service hashed it").hexdigest()
BROKEN_HASH = "c" * 64
NOWHERE_HASH = "d" * 64


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _oid(number: int) -> ObjectId:
    return ObjectId(f"{number:024x}")


def collections() -> dict[str, list[dict[str, Any]]]:
    """Study 3 has no spec. Runs: `paused` is no status, `orphan` names a study nobody
    has, `of-broken` the refused study, `backwards` ends before it starts (which the
    service stores and scimeta refuses). The summary of `run-c` has a keff that is no
    number, and `run-zzz` is no run; events 15 and 16 are of a refused run and carry a
    list as payload; output 23 is of no run."""
    return {
        "studies": [
            {
                "_id": _oid(1),
                "spec_hash": spec_hash(PINCELL),
                "canonical_spec": PINCELL,
                "created_at": _at(0),
            },
            {
                "_id": _oid(2),
                "spec_hash": HOT_HASH,
                "canonical_spec": PINCELL_HOT,
                "created_at": _at(1),
                "owner": "reactor-group",
            },
            {"_id": _oid(3), "spec_hash": BROKEN_HASH, "created_at": _at(2)},
        ],
        "runs": [
            {
                "_id": _oid(4),
                "run_id": "run-a",
                "spec_hash": spec_hash(PINCELL),
                "status": "succeeded",
                "phase": "done",
                "claimed_by": "worker-01",
                "lease_expires_at": _at(20),
                "artifacts": {
                    "bundle_path": "/srv/aonp/runs/run-a/bundle.tar.gz",
                    "statepoint_path": "/srv/aonp/runs/run-a/statepoint.100.h5",
                    "parquet_path": "/srv/aonp/runs/run-a/summary.parquet",
                },
                "created_at": _at(3),
                "started_at": _at(4),
                "ended_at": _at(12),
            },
            {
                "_id": _oid(5),
                "run_id": "run-b",
                "spec_hash": HOT_HASH,
                "status": "running",
                "phase": "execute",
                "claimed_by": "worker-02",
                "lease_expires_at": _at(30),
                "artifacts": {"bundle_path": "/srv/aonp/runs/run-b/bundle.tar.gz"},
                "created_at": _at(5),
                "started_at": _at(6),
            },
            {
                "_id": _oid(6),
                "run_id": "run-c",
                "spec_hash": spec_hash(PINCELL),
                "status": "failed",
                "phase": "execute",
                "error": {"type": "RuntimeError", "message": "openmc exited with code 137"},
                "created_at": _at(7),
                "started_at": _at(8),
                "ended_at": _at(9),
            },
            {
                "_id": _oid(7),
                "run_id": "run-d",
                "spec_hash": spec_hash(PINCELL),
                "status": "queued",
                "phase": "bundle",
                "artifacts": {"bundle_path": None},
                "created_at": _at(10),
            },
            {"_id": _oid(8), "run_id": "paused", "status": "paused", "created_at": _at(11)},
            {
                "_id": _oid(9),
                "run_id": "orphan",
                "spec_hash": NOWHERE_HASH,
                "status": "queued",
                "created_at": _at(11),
            },
            {
                "_id": _oid(10),
                "run_id": "of-broken",
                "spec_hash": BROKEN_HASH,
                "status": "queued",
                "created_at": _at(11),
            },
            {
                "_id": _oid(11),
                "run_id": "backwards",
                "status": "succeeded",
                "started_at": _at(12),
                "ended_at": _at(11),
                "created_at": _at(11),
            },
        ],
        "summaries": [
            {
                "_id": _oid(12),
                "run_id": "run-a",
                "keff": 1.02345,
                "keff_std": 0.00012,
                "keff_uncertainty_pcm": 12.0,
                "n_batches": 100,
                "n_inactive": 20,
                "n_particles": Int64(10000),
                "extracted_at": _at(12),
            },
            {"_id": _oid(13), "run_id": "run-c", "keff": "high", "extracted_at": _at(10)},
            {"_id": _oid(14), "run_id": "run-zzz", "keff": 1.0},
        ],
        "events": [
            {
                "_id": _oid(20),
                "run_id": "run-a",
                "ts": _at(4),
                "type": "phase_started",
                "agent": "worker-01",
                "payload": {"phase": "bundle"},
            },
            {
                "_id": _oid(21),
                "run_id": "run-a",
                "ts": _at(11.5),
                "type": "simulation_completed",
                "agent": "worker-01",
                "payload": {"exit_code": 0, "elapsed_seconds": 45.2},
            },
            {
                "_id": _oid(17),
                "ts": _at(13),
                "type": "worker_started",
                "agent": "worker-03",
                "payload": {"host": "node-7"},
            },
            {
                "_id": _oid(18),
                "ts": _at(14),
                "type": "error",
                "payload": {"message": "MongoDB primary stepped down"},
            },
            {"_id": _oid(15), "run_id": "paused", "ts": _at(11), "type": "queued", "payload": {}},
            {"_id": _oid(16), "run_id": "run-a", "ts": _at(5), "type": "note", "payload": [1, 2]},
        ],
        "agent_outputs": [
            {
                "_id": _oid(30),
                "run_id": "run-a",
                "agent": "planner",
                "kind": "simulation_plan",
                "data": {"objective": "estimate keff", "material_updates": []},
                "schema_version": "0.1",
                "ts": _at(3),
            },
            {
                "_id": _oid(31),
                "run_id": "run-a",
                "agent": "reporter",
                "kind": "report",
                "data": {"verdict": "supercritical"},
                "schema_version": "0.1",
                "ts": _at(13),
            },
            {
                "_id": _oid(23),
                "run_id": "run-zzz",
                "agent": "planner",
                "kind": "plan",
                "data": {},
                "ts": _at(13),
            },
        ],
    }


def write_export(directory: Path, documents: dict[str, list[dict[str, Any]]]) -> Path:
    """As mongoexport writes them: studies, summaries and events one canonical document
    per line (with one line that is not JSON in events), runs a relaxed --jsonArray, agent
    outputs relaxed lines."""
    directory.mkdir(parents=True, exist_ok=True)
    canonical = ("studies", "summaries", "events")
    for collection, rows in documents.items():
        path = directory / f"{collection}.json"
        if collection == "runs":
            path.write_text(json_util.dumps(rows, json_options=RELAXED_JSON_OPTIONS))
            continue
        options: JSONOptions = (
            CANONICAL_JSON_OPTIONS if collection in canonical else (RELAXED_JSON_OPTIONS)
        )
        lines = [json_util.dumps(row, json_options=options) for row in rows]
        if collection == "events":
            lines.insert(2, '{"_id": {"$oid": "0000000000000000000000aa"}, "ts": ')
        path.write_text("\n".join(lines) + "\n")
    return directory


REFUSED = {
    ("Study", str(_oid(3))): "its canonical_spec is not a JSON object",
    ("Run", "paused"): "its status 'paused' is not one of queued|running|succeeded|failed",
    ("Run", "orphan"): f"its spec_hash {NOWHERE_HASH} names no study of the export nor of",
    ("Run", "of-broken"): f"its study (spec_hash {BROKEN_HASH}) was refused",
    ("Run", "backwards"): "before it started",
    ("Summary", "run-c"): "its keff 'high' is not a number",
    ("Summary", "run-zzz"): "its run 'run-zzz' is neither in the export's runs nor a run in",
    ("Event", None): "it is not extended JSON",
    ("Event", str(_oid(15))): "its run 'paused' was refused",
    ("Event", str(_oid(16))): "its payload is a list, not a JSON object",
    ("AgentOutput", str(_oid(23))): "its run 'run-zzz' is neither",
}
CREATED = {
    "Study": 2,
    "Run": 4,
    "RunArtifact": 4,
    "Summary": 1,
    "AgentOutput": 2,
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


async def run(
    engine: AsyncEngine, location: Path, *, dry_run: bool = False, progress: Progress | None = None
) -> ImportReport:
    report = ImportReport("aonp-mongo", dry_run)
    return await import_aonp_mongo(
        engine, str(location), ImportOptions(dry_run=dry_run), progress or Recorded(), report
    )


def created(report: ImportReport) -> dict[str, int]:
    return {name: counts.created for name, counts in report.counts.items() if counts.created}


def refused(report: ImportReport) -> dict[tuple[str, str | None], str]:
    return {(r.entity, r.source_id): r.reason for r in report.refusals}


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "aonp", collections())


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
  studies(first: 10) { nodes { name title spec specHash attributes createdAt
    runs(first: 10) { nodes { name status phase claimedBy leaseExpiresAt attempt startedAt
      endedAt error attributes createdAt
      metrics(first: 10) { nodes { name value text unit createdAt } }
      artifacts(first: 10) { nodes { role file { path name importedFrom } } }
      agentOutputs(first: 10) { nodes { agent kind data schemaVersion createdAt } }
      events(first: 20) { nodes { type at actor level payload } } } } } }
  events(first: 100) { nodes { type at actor level subjectType payload } }
}"""


async def test_the_registry_names_the_importer() -> None:
    assert source("aonp-mongo").run is import_aonp_mongo


async def test_an_export_is_imported_and_read_back(export: Path, target: AsyncEngine) -> None:
    report = await run(target, export)

    assert created(report) == CREATED
    found = refused(report)
    assert set(found) == set(REFUSED)
    for key, reason in REFUSED.items():
        assert reason in found[key], (key, found[key])
    [unreadable] = [r for r in report.refusals if r.source_id is None]
    assert unreadable.location == "events.json line 3"

    data = await graphql(target, READ_BACK)
    studies = {s["specHash"]: s for s in data["studies"]["nodes"]}
    assert set(studies) == {spec_hash(PINCELL), spec_hash(PINCELL_HOT)}
    pincell = studies[spec_hash(PINCELL)]
    assert (pincell["name"], pincell["title"], pincell["spec"]) == ("pincell", None, PINCELL)
    assert pincell["attributes"] == {"source_id": str(_oid(1))}
    assert datetime.fromisoformat(pincell["createdAt"]) == _at(0)
    # its name was the first study's: named by its hash, and its service hash kept
    hot = studies[spec_hash(PINCELL_HOT)]
    assert (hot["name"], hot["title"]) == (f"spec-{spec_hash(PINCELL_HOT)[:12]}", "pincell")
    assert hot["attributes"] == {
        "source_id": str(_oid(2)),
        "owner": "reactor-group",
        "aonp_spec_hash": HOT_HASH,
    }
    [run_b] = hot["runs"]["nodes"]
    assert (run_b["name"], run_b["status"], run_b["phase"]) == ("run-b", "RUNNING", "EXECUTE")
    assert run_b["claimedBy"] == "worker-02"
    assert datetime.fromisoformat(run_b["leaseExpiresAt"]) == _at(30)
    assert run_b["attempt"] == 1

    runs = {r["name"]: r for r in pincell["runs"]["nodes"]}
    assert set(runs) == {"run-a", "run-c", "run-d"}
    run_a = runs["run-a"]
    assert (run_a["status"], run_a["phase"], run_a["claimedBy"]) == ("SUCCEEDED", "DONE", None)
    # a finished run is no worker's: who held it is kept
    assert run_a["attributes"] == {
        "source_id": str(_oid(4)),
        "claimed_by": "worker-01",
        "lease_expires_at": _at(20).isoformat(),
    }
    assert datetime.fromisoformat(run_a["startedAt"]) == _at(4)
    assert datetime.fromisoformat(run_a["endedAt"]) == _at(12)
    assert datetime.fromisoformat(run_a["createdAt"]) == _at(3)
    metrics = {m["name"]: m for m in run_a["metrics"]["nodes"]}
    assert {name: m["value"] for name, m in metrics.items()} == {
        "keff": 1.02345,
        "keff_std": 0.00012,
        "keff_uncertainty_pcm": 12.0,
        "n_batches": 100.0,
        "n_inactive": 20.0,
        "n_particles": 10000.0,
    }
    assert metrics["keff_uncertainty_pcm"]["unit"] == "pcm"
    assert datetime.fromisoformat(metrics["keff"]["createdAt"]) == _at(12)
    artifacts = {a["role"]: a["file"] for a in run_a["artifacts"]["nodes"]}
    assert artifacts["statepoint"] == {
        "path": "/srv/aonp/runs/run-a/statepoint.100.h5",
        "name": "statepoint.100.h5",
        "importedFrom": "/srv/aonp/runs/run-a/statepoint.100.h5",
    }
    assert set(artifacts) == {"bundle", "statepoint", "parquet"}
    outputs = {o["agent"]: o for o in run_a["agentOutputs"]["nodes"]}
    assert outputs["planner"]["kind"] == "simulation_plan"
    assert outputs["planner"]["data"] == {"objective": "estimate keff", "material_updates": []}
    assert outputs["planner"]["schemaVersion"] == "0.1"
    assert datetime.fromisoformat(outputs["reporter"]["createdAt"]) == _at(13)
    logged = {e["type"]: e for e in run_a["events"]["nodes"]}
    assert datetime.fromisoformat(logged["simulation_completed"]["at"]) == _at(11.5)
    assert logged["simulation_completed"]["actor"] == "worker-01"
    assert logged["simulation_completed"]["payload"] == {
        "exit_code": 0,
        "elapsed_seconds": 45.2,
        "imported_from": "aonp-mongo",
        "source_id": str(_oid(21)),
    }
    assert logged["phase_started"]["level"] is None
    mine = sorted(e["type"] for e in run_a["events"]["nodes"] if e["actor"] == "import:aonp-mongo")
    assert mine == ["artifacts_added", "created", "metrics_recorded"]

    assert runs["run-c"]["status"] == "FAILED"
    assert runs["run-c"]["error"] == {
        "type": "RuntimeError",
        "message": "openmc exited with code 137",
    }
    assert runs["run-c"]["metrics"]["nodes"] == []
    run_d = runs["run-d"]
    assert (run_d["status"], run_d["phase"], run_d["attempt"]) == ("PENDING", "BUNDLE", 0)
    assert run_d["artifacts"]["nodes"] == []

    events = data["events"]["nodes"]
    service = {e["type"]: e for e in events if e["subjectType"] is None}
    assert set(service) == {"worker_started", "error"}
    assert (service["worker_started"]["level"], service["worker_started"]["actor"]) == (
        "INFO",
        "worker-03",
    )
    assert service["error"]["level"] == "ERROR"
    assert service["error"]["payload"]["message"] == "MongoDB primary stepped down"
    # the service's events come in their time order
    imported = [e for e in events if e["payload"].get("imported_from") == "aonp-mongo"]
    assert [e["type"] for e in imported] == [
        "phase_started",
        "simulation_completed",
        "worker_started",
        "error",
    ]
    by_importer = sorted(
        (e["subjectType"], e["type"]) for e in events if e["actor"] == "import:aonp-mongo"
    )
    assert by_importer == sorted(
        [("Study", "created")] * 2
        + [("Run", "created")] * 4
        + [("Run", "artifacts_added")] * 2
        + [("Run", "metrics_recorded")]
        + [("AgentOutput", "created")] * 2
        + [("MetricKey", "created")] * 6
    )


async def test_a_second_run_adds_nothing(export: Path, target: AsyncEngine) -> None:
    await run(target, export)
    before = await snapshot(target)

    again = await run(target, export)

    assert created(again) == {}
    assert {name: c.present for name, c in again.counts.items() if c.present} == CREATED
    assert set(refused(again)) == set(REFUSED)
    assert await snapshot(target) == before


async def test_a_dry_run_writes_nothing(export: Path, target: AsyncEngine) -> None:
    before = await snapshot(target)

    report = await run(target, export, dry_run=True)

    assert created(report) == CREATED
    assert set(refused(report)) == set(REFUSED)
    assert await snapshot(target) == before


async def test_an_interrupted_run_finishes_when_run_again(
    export: Path, target: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one run per transaction; the third fails
    monkeypatch.setattr(aonp_runs, "ROWS_PER_STEP", 1)
    inserted = aonp_runs._insert_runs
    calls = 0

    async def failing(state: ImportState, taken: Any) -> set[int]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("the network went away")
        return await inserted(state, taken)

    monkeypatch.setattr(aonp_runs, "_insert_runs", failing)
    with pytest.raises(ConnectionError):
        await run(target, export)
    async with target.connect() as connection:
        kept = await connection.scalar(text("SELECT count(*) FROM runs"))
    assert kept == 2

    report = await run(target, export)

    assert (report.of("Run").present, report.of("Run").created) == (2, 2)
    assert created(report) == {"Run": 2, "Summary": 1, "AgentOutput": 2, "Event": 4}
    async with target.connect() as connection:
        counts = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM run_artifacts),"
                    " (SELECT count(*) FROM events WHERE type = 'created'"
                    "  AND subject_type = 'Run')"
                )
            )
        ).one()
    assert tuple(counts) == (4, 4, 4)


async def test_one_collection_file_joins_what_scimeta_has(
    export: Path, target: AsyncEngine, tmp_path: Path
) -> None:
    """Runs exported alone find their studies among those imported before, also by the
    run service's own hash; summaries alone find their runs."""
    await run(target, export / "studies.json")
    documents = collections()
    alone = tmp_path / "alone"
    alone.mkdir()
    runs_file = alone / "aonp_db.runs.json"
    runs_file.write_text(
        "\n".join(json_util.dumps(r, json_options=RELAXED_JSON_OPTIONS) for r in documents["runs"])
    )

    report = await run(target, runs_file)

    assert report.of("Run").created == 4
    assert set(refused(report)) == {key for key in REFUSED if key[0] == "Run"}
    assert "names no study of the export nor of" in refused(report)[("Run", "of-broken")]
    summaries = alone / "summaries.json"
    summaries.write_text(json_util.dumps(documents["summaries"][:1]))
    assert (await run(target, summaries)).of("Summary").created == 1
    data = await graphql(
        target, '{ runs(first: 10, where: {name: {eq: "run-b"}}) { nodes { study { name } } } }'
    )
    assert data["runs"]["nodes"] == [{"study": {"name": f"spec-{spec_hash(PINCELL_HOT)[:12]}"}}]


async def test_pretty_output_and_names_that_are_no_collection(tmp_path: Path) -> None:
    pretty = tmp_path / "studies.json"
    study = collections()["studies"][0]
    pretty.write_text(json_util.dumps(study, json_options=CANONICAL_JSON_OPTIONS, indent=2))

    [document] = read_documents(pretty)
    assert document.location == "studies.json document 1"
    assert document.value is not None and document.value["canonical_spec"] == PINCELL
    other = tmp_path / "backup.json"
    other.write_text("{}")
    with pytest.raises(TransferError, match="does not name a collection"):
        await run(None, other)  # type: ignore[arg-type]


async def test_progress_is_reported_per_kind_of_row(export: Path, target: AsyncEngine) -> None:
    progress = Recorded()
    await run(target, export, progress=progress)
    assert progress.tables == [
        ("Study", 3, 3),
        ("Run", 8, 8),
        ("Summary", 3, 3),
        ("AgentOutput", 3, 3),
        ("Event", 7, 7),
    ]


async def test_a_run_id_given_twice_is_refused_with_what_is_of_it(
    tmp_path: Path, target: AsyncEngine
) -> None:
    documents = collections()
    twin = dict(documents["runs"][0], _id=_oid(40), status="failed")
    documents["runs"].append(twin)
    documents["summaries"].append(dict(documents["summaries"][0], _id=_oid(41)))

    report = await run(target, write_export(tmp_path / "twins", documents))

    found = refused(report)
    assert "another run document has the same run_id" in found[("Run", "run-a")]
    assert len([r for r in report.refusals if r.entity == "Run" and r.source_id == "run-a"]) == 2
    summaries = [r for r in report.refusals if r.entity == "Summary" and r.source_id == "run-a"]
    assert [r.reason for r in summaries] == ["its run 'run-a' was refused (see that refusal)"] * 2
    assert "its run 'run-a' was refused" in found[("Event", str(_oid(20)))]
    assert created(report) == {
        "Study": 2,
        "Run": 3,
        "RunArtifact": 1,
        "Event": 2,
    }
