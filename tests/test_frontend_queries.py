"""The operations in frontend-queries/: each is valid against the schema, answers with real
data over HTTP at demo scale 1, and costs a pinned number of statements that stays the
same at scale 3 (the count follows the document's depth, not the number of rows). Each is
sent as the frontends send it to a server that runs only its trusted documents: by its
`documentId`, from the manifest the server builds of the folder at start."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.demo import load_demo
from scimeta.resolvers.schema import schema
from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.server.documents import build_manifest, document_id
from scimeta.server.settings import Settings
from tests.conftest import (
    COMPILED_READS,
    DatabaseFactory,
    counting_statements,
    read_statements,
    started,
)

QUERIES = Path(__file__).resolve().parent.parent / "frontend-queries"
ALL_DOCUMENTS = sorted(path.relative_to(QUERIES).as_posix() for path in QUERIES.rglob("*.graphql"))


def _is_subscription(path: str) -> bool:
    document = parse((QUERIES / path).read_text())
    return any(
        isinstance(definition, OperationDefinitionNode)
        and definition.operation == OperationType.SUBSCRIPTION
        for definition in document.definitions
    )


# subscriptions go over the WebSocket: tests/dashboard/test_documents.py runs them
SUBSCRIPTIONS = [path for path in ALL_DOCUMENTS if _is_subscription(path)]
DOCUMENTS = [path for path in ALL_DOCUMENTS if path not in SUBSCRIPTIONS]

# One statement per list, count, aggregate and relation at each depth, whatever the rows.
STATEMENTS = {
    "chemistry/batch_progress.graphql": 4,
    "chemistry/molecule_search.graphql": 4,
    "dashboard/projects.graphql": 4,
    "dashboard/statistics.graphql": 9,
    "events/event_log.graphql": 5,
    "events/subject_events.graphql": 2,
    "jobs/job_tree.graphql": 17,
    "runs/run_detail.graphql": 12,
    "runs/run_monitor.graphql": 8,
    "runs/trajectory_chunks.graphql": 7,
    "studies/participant_recordings.graphql": 6,
    "studies/study_overview.graphql": 8,
}

Data = dict[str, Any]
Variables = dict[str, Any]


@dataclass(frozen=True)
class FrontendQuery:
    path: str
    text: str
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: Variables

    @classmethod
    def load(cls, path: str) -> FrontendQuery:
        source = QUERIES / path
        text = source.read_text()
        document = parse(text)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        assert len(operations) == 1, f"{path}: one operation per file, found {len(operations)}"
        operation = get_operation_ast(document)
        assert operation is not None
        variables_file = source.with_name(source.name.removesuffix(".graphql") + ".variables.json")
        variables = json.loads(variables_file.read_text())
        return cls(path, text, document, operation, variables)

    @property
    def root_keys(self) -> set[str]:
        """The response keys of the operation's root fields (their aliases or names)."""
        keys = set()
        for selection in self.operation.selection_set.selections:
            assert isinstance(selection, FieldNode), f"{self.path}: root fields only"
            keys.add((selection.alias or selection.name).value)
        return keys


# --- what each document must show in the demo data (at scale 1 and at scale 3) -----------


def _counted(groups: list[dict[str, Any]], field: str) -> dict[Any, int]:
    return {group["key"][field]: group["count"] for group in groups}


def _ordered(items: list[Any]) -> bool:
    return items == sorted(items)


def check_study_overview(data: Data, variables: Variables) -> None:
    (study,) = data["studies"]["nodes"]
    assert study["name"] == variables["study"]
    participants = study["participants"]
    assert participants["totalCount"] >= 3
    assert not participants["pageInfo"]["hasNextPage"]
    recordings = [r for p in participants["nodes"] for r in p["recordings"]["nodes"]]
    assert all(p["recordings"]["nodes"] for p in participants["nodes"])
    assert {r["qcPassed"] for r in recordings} == {True, False}
    channels = [c for r in recordings for c in r["channels"]["nodes"]]
    assert channels
    assert all(c["qcPassed"] is not None for c in channels)
    assert any(r["qcFailSegments"] for r in recordings)
    by_maneuver = data["recordingsByManeuver"]
    assert len(by_maneuver["groups"]) >= 2
    assert sum(_counted(by_maneuver["groups"], "maneuver").values()) == by_maneuver["totalCount"]
    per_participant = sum(p["recordings"]["totalCount"] for p in participants["nodes"])
    assert per_participant == by_maneuver["totalCount"] == len(recordings)


def check_participant_recordings(data: Data, variables: Variables) -> None:
    recordings = data["recordings"]
    nodes = recordings["nodes"]
    assert len(nodes) == recordings["totalCount"] >= 3
    assert {r["maneuver"] for r in nodes} == set(variables["maneuvers"])
    assert all(r["file"] and r["file"]["path"].endswith(r["file"]["name"]) for r in nodes)
    audio = [r for r in nodes if r["kind"] == "AUDIO"]
    assert audio
    assert all(len(r["channels"]["nodes"]) == r["numChannels"] for r in audio)
    cycles = [c for r in nodes for c in r["cycles"]["nodes"]]
    assert cycles
    assert all(c["startSeconds"] < c["endSeconds"] for c in cycles)


def _job_levels(top_level: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The jobs at each depth of the tree, checking that each is numbered under its parent."""
    levels, level = [], top_level
    while level:
        levels.append(level)
        children = []
        for job in level:
            assert job["number"].count(".") == len(levels) - 1
            below = job["children"].get("nodes", [])
            assert all(child["number"].startswith(job["number"] + ".") for child in below)
            children.extend(below)
        level = children
    return levels


def check_job_tree(data: Data, variables: Variables) -> None:
    (project,) = data["projects"]["nodes"]
    assert project["name"] == variables["project"]
    levels = _job_levels(project["jobs"]["nodes"])
    assert len(levels) == 3
    deeper = sum(job["children"]["totalCount"] for job in levels[2])
    all_jobs = project["allJobs"]
    assert sum(len(level) for level in levels) + deeper == all_jobs["totalCount"]
    assert sum(_counted(all_jobs["groups"], "status").values()) == all_jobs["totalCount"]
    jobs = [job for level in levels for job in level]
    files = [use for job in jobs for use in job["files"]["nodes"]]
    assert {use["role"] for use in files} == {"INPUT", "OUTPUT"}
    assert all(use["file"]["checksum"] for use in files)
    kpis = [kpi for job in jobs for kpi in job["metrics"]["nodes"]]
    assert any(kpi["value"] is not None for kpi in kpis)
    assert any(kpi["text"] is not None for kpi in kpis)


def check_run_monitor(data: Data, variables: Variables) -> None:
    runs = data["runs"]
    nodes = runs["nodes"]
    assert {run["status"] for run in nodes} == set(variables["statuses"])
    assert [run["createdAt"] for run in nodes] == sorted(
        (run["createdAt"] for run in nodes), reverse=True
    )
    by_status = _counted(data["allRuns"]["byStatus"], "status")
    assert runs["totalCount"] == sum(by_status[status] for status in variables["statuses"])
    assert sum(by_status.values()) == data["allRuns"]["totalCount"]
    assert sum(_counted(data["allRuns"]["byPhase"], "phase").values()) == sum(by_status.values())
    running = [run for run in nodes if run["status"] == "RUNNING"]
    assert running
    assert all(run["claimedBy"] and run["leaseExpiresAt"] for run in running)
    assert any(run["metrics"]["nodes"] for run in nodes)
    assert any(run["study"] for run in nodes)


def _check_chunk_history(trajectory: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = trajectory["chunks"]["nodes"]
    assert chunks
    assert len(chunks) == trajectory["chunks"]["totalCount"]
    assert _ordered([(chunk["index"], chunk["attempt"]) for chunk in chunks])
    passed = sorted({chunk["index"] for chunk in chunks if chunk["auditStatus"] == "PASSED"})
    assert trajectory["chunksCompleted"] == passed
    assert all(chunk["file"] for chunk in chunks if chunk["auditStatus"] == "PASSED")
    return list(chunks)


def check_run_detail(data: Data, variables: Variables) -> None:
    run = data["node"]
    assert run["id"] == variables["id"]
    assert run["name"] == "run_00006"
    trajectories = run["trajectories"]
    assert len(trajectories["nodes"]) == trajectories["totalCount"] >= 2
    assert _ordered([trajectory["index"] for trajectory in trajectories["nodes"]])
    chunks = [c for t in trajectories["nodes"] for c in _check_chunk_history(t)]
    audits = _counted(run["chunks"]["groups"], "auditStatus")
    assert len(chunks) == run["chunks"]["totalCount"] == sum(audits.values())
    assert audits["FAILED"] > 0
    assert all(chunk["metrics"]["nodes"] for chunk in chunks)


def check_trajectory_chunks(data: Data, variables: Variables) -> None:
    (trajectory,) = data["trajectories"]["nodes"]
    assert trajectory["run"]["name"] == variables["run"]
    assert trajectory["index"] == variables["index"]
    chunks = _check_chunk_history(trajectory)
    audits = _counted(trajectory["chunks"]["groups"], "auditStatus")
    assert sum(audits.values()) == len(chunks)
    assert audits["PASSED"] > 0
    assert audits["FAILED"] > 0
    assert any(chunk["attempt"] > 1 for chunk in chunks)


def check_molecule_search(data: Data, variables: Variables) -> None:
    calculations = data["calculations"]
    nodes = calculations["nodes"]
    assert len(nodes) == calculations["totalCount"] >= 5
    energies = [calculation["energy"] for calculation in nodes]
    assert _ordered(energies)
    assert all(variables["energyMin"] <= energy <= variables["energyMax"] for energy in energies)
    gaps = [calculation["gap"] for calculation in nodes]
    assert all(variables["gapMin"] <= gap <= variables["gapMax"] for gap in gaps)
    assert all(calculation["molecule"]["smiles"] for calculation in nodes)
    aggregate = calculations["aggregate"]
    assert aggregate["count"] == len(nodes)
    assert (aggregate["energy"]["min"], aggregate["energy"]["max"]) == (energies[0], energies[-1])
    assert (aggregate["gap"]["min"], aggregate["gap"]["max"]) == (min(gaps), max(gaps))
    assert aggregate["energy"]["avg"] == pytest.approx(sum(energies) / len(energies))


def check_batch_progress(data: Data, variables: Variables) -> None:
    batches = data["batches"]["nodes"]
    assert batches
    for batch in batches:
        progress = batch["progress"]
        by_status = _counted(batch["items"]["groups"], "status")
        assert progress["total"] == sum(by_status.values()) > 0
        for status in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"):
            assert progress[status.lower()] == by_status.get(status, 0)
        done = progress["succeeded"] + progress["failed"] + progress["cancelled"]
        assert progress["fractionDone"] == pytest.approx(done / progress["total"])
    assert any(0 < batch["progress"]["fractionDone"] < 1 for batch in batches)


def check_event_log(data: Data, variables: Variables) -> None:
    (run,) = data["runs"]["nodes"]
    assert run["name"] == variables["run"]
    events = run["events"]
    assert len(events["nodes"]) == min(events["totalCount"], 50) > 0
    assert _ordered([e["sequence"] for e in events["nodes"]])
    assert events["nodes"][-1]["type"] == "status_changed"
    log = data["events"]
    assert len(log["nodes"]) == variables["last"] < log["totalCount"]
    assert log["pageInfo"]["hasPreviousPage"]
    assert _ordered([e["sequence"] for e in log["nodes"]])
    assert {e["type"] for e in log["nodes"]} <= set(variables["types"])


def check_statistics(data: Data, variables: Variables) -> None:
    chemistry = data["chemistryStatistics"]
    assert chemistry["calculations"] >= chemistry["succeeded"] > 0
    assert 0 < chemistry["successRate"] <= 1
    assert chemistry["averageEnergy"] < 0
    for field, key in (("runs", "status"), ("jobs", "status"), ("chunks", "auditStatus")):
        groups = _counted(data[field]["groups"], key)
        assert len(groups) >= 3
        assert sum(groups.values()) == data[field]["totalCount"]
    kpis = data["metrics"]["groups"]
    names = [group["key"]["key"]["name"] for group in kpis]
    assert len(names) == len(set(names)) >= 5
    numeric = [group["value"] for group in kpis if group["value"]["avg"] is not None]
    assert numeric
    assert all(value["min"] <= value["avg"] <= value["max"] for value in numeric)


def check_projects(data: Data, variables: Variables) -> None:
    projects = data["projects"]
    (project,) = projects["nodes"]
    assert projects["totalCount"] == 1
    assert project["name"].startswith(variables["name"].rstrip("%"))
    jobs = project["allJobs"]
    assert sum(_counted(jobs["groups"], "status").values()) == jobs["totalCount"] > 0
    assert project["lastJobNumber"] >= 1


def check_subject_events(data: Data, variables: Variables) -> None:
    events = data["events"]
    assert len(events["nodes"]) == variables["last"] < events["totalCount"]
    assert events["pageInfo"]["hasPreviousPage"]
    assert _ordered([e["sequence"] for e in events["nodes"]])
    assert {e["subjectType"] for e in events["nodes"]} == {"Run"}


CHECKS: dict[str, Callable[[Data, Variables], None]] = {
    "chemistry/batch_progress.graphql": check_batch_progress,
    "chemistry/molecule_search.graphql": check_molecule_search,
    "dashboard/projects.graphql": check_projects,
    "dashboard/statistics.graphql": check_statistics,
    "events/event_log.graphql": check_event_log,
    "events/subject_events.graphql": check_subject_events,
    "jobs/job_tree.graphql": check_job_tree,
    "runs/run_detail.graphql": check_run_detail,
    "runs/run_monitor.graphql": check_run_monitor,
    "runs/trajectory_chunks.graphql": check_trajectory_chunks,
    "studies/participant_recordings.graphql": check_participant_recordings,
    "studies/study_overview.graphql": check_study_overview,
}


# --- fixtures and the test ----------------------------------------------------------------


async def _demo_engine(databases: DatabaseFactory, scale: int) -> AsyncEngine:
    engine = await databases.migrated_engine()
    await load_demo(engine, scale)
    return engine


@pytest.fixture(scope="module")
async def demo_1(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await _demo_engine(databases, 1)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def demo_3(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await _demo_engine(databases, 3)
    yield engine
    await engine.dispose()


async def _run(engine: AsyncEngine, query: FrontendQuery) -> tuple[list[str], Data]:
    """Posts the document's id with its variables; returns the statements it ran and its
    data."""
    settings = dataclasses.replace(
        Settings.from_env(), trusted_documents=QUERIES, trusted_documents_only=True
    )
    app = await started(create_app(settings, sessionmaker=create_sessionmaker(engine)))
    with counting_statements(engine) as counter:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            response = await client.post(
                "/graphql",
                json={"documentId": document_id(query.text), "variables": query.variables},
                headers={"Scimeta-Report": "path"},
            )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    assert response.status_code == 200
    # with compiled reads on, every document is answered by its one compiled statement
    assert body["extensions"]["scimeta"]["path"] == ("compiled" if COMPILED_READS else "executor")
    return counter.statements, body["data"]


def _has_content(value: Any) -> bool:
    """A list with items, a connection with nodes or a non-zero count, a non-empty object."""
    if isinstance(value, dict):
        for field in ("nodes", "groups"):
            if field in value:
                return bool(value[field])
        if "totalCount" in value:
            return bool(value["totalCount"])
        return any(_has_content(item) for item in value.values())
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0
    return value is not None


def test_every_document_is_covered() -> None:
    assert DOCUMENTS
    assert set(STATEMENTS) == set(DOCUMENTS)
    assert set(CHECKS) == set(DOCUMENTS)
    # the server knows each by the id the frontends send
    manifest = build_manifest(QUERIES)
    assert len(manifest) == len(ALL_DOCUMENTS)
    for path in ALL_DOCUMENTS:
        assert manifest[document_id((QUERIES / path).read_text())] == (QUERIES / path).read_text()


@pytest.mark.parametrize("path", DOCUMENTS)
async def test_frontend_query(path: str, demo_1: AsyncEngine, demo_3: AsyncEngine) -> None:
    query = FrontendQuery.load(path)
    assert query.text.startswith("# "), f"{path}: starts with a comment naming its screen"
    assert query.operation.name is not None, f"{path}: operations are named"
    assert validate(schema._schema, query.document) == []
    definitions = query.operation.variable_definitions or ()
    defined = {definition.variable.name.value for definition in definitions}
    assert set(query.variables) <= defined, "the variables file names unknown variables"
    errors = get_variable_values(schema._schema, definitions, query.variables)
    assert not isinstance(errors, list), errors
    assert path in STATEMENTS, f"pin the statement count of {path} in STATEMENTS"
    assert path in CHECKS, f"add a check of {path}'s data to CHECKS"

    statements, data = await _run(demo_1, query)
    assert set(data) == query.root_keys
    empty = {key for key, value in data.items() if not _has_content(value)}
    assert not empty, f"root fields without data: {empty}"
    CHECKS[path](data, query.variables)
    assert len(statements) == read_statements(STATEMENTS[path]), "\n".join(statements)

    larger_statements, larger = await _run(demo_3, query)
    CHECKS[path](larger, query.variables)
    assert len(larger_statements) == len(statements), "\n".join(larger_statements)
