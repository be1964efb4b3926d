"""Studies by spec, runs, artifacts, agent outputs, trajectories and chunk attempts through
mutations: what each call writes, and what a repeated call does."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models
from scimeta.writes.runs import canonical_json, spec_hash
from tests.conftest import GraphQLClient, StatementCounter

UPSERT_STUDY = """
mutation($input: UpsertStudyBySpecInput!) {
  upsertStudyBySpec(input: $input) { created study { id name title specHash spec } }
}"""
CREATE_RUN = """
mutation($input: CreateRunInput!) {
  createRun(input: $input) {
    replayed
    run { id name status phase startedAt endedAt error attributes version study { id } }
  }
}"""
RUN_FIELDS = "run { id status phase startedAt endedAt error attributes version }"
SET_RUN_PHASE = f"""
mutation($input: SetRunPhaseInput!) {{ setRunPhase(input: $input) {{ {RUN_FIELDS} }} }}"""
SET_RUN_STATUS = f"""
mutation($input: SetRunStatusInput!) {{ setRunStatus(input: $input) {{ {RUN_FIELDS} }} }}"""
UPDATE_RUN = f"""
mutation($input: UpdateRunInput!) {{ updateRun(input: $input) {{ {RUN_FIELDS} }} }}"""
ADD_ARTIFACTS = """
mutation($input: AddRunArtifactsInput!) {
  addRunArtifacts(input: $input) {
    run { id artifacts { nodes { role file { path name checksum } } } }
    artifacts { id role }
  }
}"""
STORE_AGENT_OUTPUT = """
mutation($input: StoreAgentOutputInput!) {
  storeAgentOutput(input: $input) { replayed agentOutput { id agent kind data schemaVersion } }
}"""
INITIALIZE_TRAJECTORY = """
mutation($input: InitializeTrajectoryInput!) {
  initializeTrajectory(input: $input) {
    created trajectory { id index targetLength initAtoms run { id } }
  }
}"""
CHUNK_FIELDS = "id index attempt auditStatus modelVersion frameCount file { path }"
ADD_CHUNK_ATTEMPT = f"""
mutation($input: AddChunkAttemptInput!) {{
  addChunkAttempt(input: $input) {{ replayed chunk {{ {CHUNK_FIELDS} }} }}
}}"""
ADD_CHUNK_ATTEMPTS = f"""
mutation($input: AddChunkAttemptsInput!) {{
  addChunkAttempts(input: $input) {{ chunks {{ {CHUNK_FIELDS} }} }}
}}"""
SET_AUDIT = """
mutation($input: SetChunkAuditStatusInput!) {
  setChunkAuditStatus(input: $input) { chunk { id index attempt auditStatus version } }
}"""
EVENTS = """
query($id: ID) { events(where: {subject: {eq: $id}}) { nodes { type actor payload } } }"""

WATER = {
    "symbols": ["O", "H", "H"],
    "positions": [[5.0, 5.0, 5.0], [5.757, 5.586, 5.0], [4.243, 5.586, 5.0]],
    "cell": [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]],
    "pbc": [False, False, False],
}


async def create_run(graphql: GraphQLClient, name: str = "run_xyz789", **input: Any) -> Any:
    data = await graphql.data(CREATE_RUN, input={"name": name, **input})
    return data["createRun"]["run"]


async def initialize_trajectory(graphql: GraphQLClient, run_id: str, index: int = 0) -> Any:
    data = await graphql.data(
        INITIALIZE_TRAJECTORY,
        input={"runId": run_id, "index": index, "targetLength": 100, "initAtoms": WATER},
    )
    return data["initializeTrajectory"]["trajectory"]


async def add_chunk(graphql: GraphQLClient, trajectory_id: str, index: int, **input: Any) -> Any:
    data = await graphql.data(
        ADD_CHUNK_ATTEMPT, input={"trajectoryId": trajectory_id, "index": index, **input}
    )
    return data["addChunkAttempt"]["chunk"]


async def events_of(graphql: GraphQLClient, node_id: str) -> list[Any]:
    data = await graphql.data(EVENTS, id=node_id)
    events: list[Any] = data["events"]["nodes"]
    return events


async def count(session: AsyncSession, model: type[models.Base]) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


def test_spec_hash_is_the_sha256_of_the_sorted_compact_json() -> None:
    spec = {"settings": {"particles": 10_000, "batches": 100}, "name": "pincell"}
    text = '{"name":"pincell","settings":{"batches":100,"particles":10000}}'
    assert canonical_json(spec) == text
    assert spec_hash(spec) == hashlib.sha256(text.encode()).hexdigest()


async def test_a_spec_in_any_key_order_is_one_study(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    spec = {"name": "pincell", "geometry": {"pitch_cm": 1.26, "type": "pincell"}, "n": [1, 2]}
    reordered = {"n": [1, 2], "geometry": {"type": "pincell", "pitch_cm": 1.26}, "name": "pincell"}
    first = (await graphql.data(UPSERT_STUDY, input={"spec": spec, "title": "Pin cell"}))[
        "upsertStudyBySpec"
    ]
    digest = hashlib.sha256(
        json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert first["created"] is True
    assert first["study"]["specHash"] == digest
    assert first["study"]["name"] == f"spec-{digest[:12]}"
    assert first["study"]["spec"] == spec
    events = await count(session, models.Event)

    again = (await graphql.data(UPSERT_STUDY, input={"spec": reordered, "name": "ignored"}))[
        "upsertStudyBySpec"
    ]
    assert again == {**first, "created": False}
    assert await count(session, models.Study) == 1
    assert await count(session, models.Event) == events
    assert [e["type"] for e in await events_of(graphql, first["study"]["id"])] == ["created"]

    other = (await graphql.data(UPSERT_STUDY, input={"spec": {**spec, "n": [2]}, "name": "b"}))[
        "upsertStudyBySpec"
    ]
    assert other["created"] is True
    assert other["study"]["name"] == "b"
    assert other["study"]["id"] != first["study"]["id"]


async def test_concurrent_upserts_of_one_spec_make_one_study(
    committed_graphql: GraphQLClient,
) -> None:
    spec = {"name": "pincell", "nonce": str(uuid.uuid4())}
    results = await asyncio.gather(
        *(committed_graphql.data(UPSERT_STUDY, input={"spec": spec}) for _ in range(10))
    )
    payloads = [result["upsertStudyBySpec"] for result in results]
    assert sorted(payload["created"] for payload in payloads) == [False] * 9 + [True]
    assert len({payload["study"]["id"] for payload in payloads}) == 1


async def test_a_run_belongs_to_a_study_given_by_id_or_spec_hash(graphql: GraphQLClient) -> None:
    study = (await graphql.data(UPSERT_STUDY, input={"spec": {"name": "pincell"}}))[
        "upsertStudyBySpec"
    ]["study"]
    by_hash = await create_run(graphql, "run_a", specHash=study["specHash"])
    by_id = await create_run(graphql, "run_b", studyId=study["id"], phase="EXECUTE")
    alone = await create_run(graphql, "run_c", attributes={"queue": "gpu"})
    assert by_hash["study"] == by_id["study"] == {"id": study["id"]}
    assert alone["study"] is None
    assert [run["status"] for run in (by_hash, by_id, alone)] == ["PENDING"] * 3
    assert [run["phase"] for run in (by_hash, by_id, alone)] == ["BUNDLE", "EXECUTE", "BUNDLE"]
    assert alone["attributes"] == {"queue": "gpu"}
    (created,) = await events_of(graphql, by_hash["id"])
    assert created["type"] == "created"
    assert created["actor"] == "local"
    assert created["payload"]["status"] == "PENDING"


async def test_create_run_with_an_idempotency_key_runs_once(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    input = {"name": "run_once", "idempotencyKey": "submit-1"}
    first = (await graphql.data(CREATE_RUN, input=input))["createRun"]
    events = await count(session, models.Event)
    again = (await graphql.data(CREATE_RUN, input=input))["createRun"]
    assert first["replayed"] is False
    assert again == {**first, "replayed": True}
    assert await count(session, models.Run) == 1
    assert await count(session, models.Event) == events


async def test_phases_may_skip_forward_and_repeating_one_is_no_change(
    graphql: GraphQLClient,
) -> None:
    run = await create_run(graphql)
    extract = (await graphql.data(SET_RUN_PHASE, input={"id": run["id"], "phase": "EXTRACT"}))[
        "setRunPhase"
    ]["run"]
    again = (await graphql.data(SET_RUN_PHASE, input={"id": run["id"], "phase": "EXTRACT"}))[
        "setRunPhase"
    ]["run"]
    assert extract["phase"] == "EXTRACT"
    assert again == extract
    assert extract["version"] == run["version"] + 1
    changes = [e for e in await events_of(graphql, run["id"]) if e["type"] == "phase_changed"]
    assert [e["payload"] for e in changes] == [{"from": "BUNDLE", "to": "EXTRACT"}]


async def test_a_failed_run_keeps_its_error_until_it_is_queued_again(
    graphql: GraphQLClient,
) -> None:
    run = await create_run(graphql)
    await graphql.data(SET_RUN_STATUS, input={"id": run["id"], "status": "RUNNING"})
    error = {"type": "RuntimeError", "message": "openmc exited with 1", "phase": "EXECUTE"}
    failed = (
        await graphql.data(
            SET_RUN_STATUS, input={"id": run["id"], "status": "FAILED", "error": error}
        )
    )["setRunStatus"]["run"]
    assert failed["status"] == "FAILED"
    assert failed["error"] == error
    assert failed["endedAt"] >= failed["startedAt"]

    queued = (await graphql.data(SET_RUN_STATUS, input={"id": run["id"], "status": "PENDING"}))[
        "setRunStatus"
    ]["run"]
    assert (queued["status"], queued["error"], queued["startedAt"], queued["endedAt"]) == (
        "PENDING",
        None,
        None,
        None,
    )
    changes = [e["payload"] for e in await events_of(graphql, run["id"]) if e["type"] != "created"]
    assert changes == [
        {"from": "PENDING", "to": "RUNNING"},
        {"from": "RUNNING", "to": "FAILED", "error": error},
        {"from": "FAILED", "to": "PENDING"},
    ]


async def test_a_stale_expected_version_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    updated = (
        await graphql.data(
            UPDATE_RUN,
            input={"id": run["id"], "attributes": {"a": 1}, "expectedVersion": run["version"]},
        )
    )["updateRun"]["run"]
    assert updated["attributes"] == {"a": 1}
    assert updated["version"] == run["version"] + 1
    events = await count(session, models.Event)

    for document, input in [
        (UPDATE_RUN, {"attributes": {"a": 2}}),
        (SET_RUN_STATUS, {"status": "RUNNING"}),
        (SET_RUN_PHASE, {"phase": "DONE"}),
    ]:
        body = await graphql.execute(
            document, input={"id": run["id"], "expectedVersion": run["version"], **input}
        )
        error = body["errors"][0]
        assert error["extensions"]["code"] == "CONFLICT"
        assert error["extensions"]["reason"] == "STALE_VERSION"
        assert error["extensions"]["version"] == updated["version"]
        assert f"version {updated['version']}" in error["message"]
    data = await graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Run { attributes status phase version } } }",
        id=run["id"],
    )
    assert data["node"] == {
        "attributes": {"a": 1},
        "status": "PENDING",
        "phase": "BUNDLE",
        "version": updated["version"],
    }
    assert await count(session, models.Event) == events


async def test_artifacts_are_added_with_their_files_and_one_event(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    roles = {
        "bundle": "/runs/run_xyz789/bundle.tar.gz",
        "statepoint": "/runs/run_xyz789/statepoint.100.h5",
        "parquet": "/runs/run_xyz789/summary.parquet",
    }
    artifacts = [{"role": role, "file": {"path": path}} for role, path in roles.items()]
    artifacts[0]["file"]["checksum"] = "ab" * 32
    payload = (
        await graphql.data(ADD_ARTIFACTS, input={"runId": run["id"], "artifacts": artifacts})
    )["addRunArtifacts"]
    assert [a["role"] for a in payload["artifacts"]] == list(roles)
    assert payload["run"]["artifacts"]["nodes"] == [
        {
            "role": role,
            "file": {
                "path": path,
                "name": path.rsplit("/", 1)[1],
                "checksum": "ab" * 32 if role == "bundle" else None,
            },
        }
        for role, path in roles.items()
    ]
    assert await count(session, models.File) == 3
    (added,) = [e for e in await events_of(graphql, run["id"]) if e["type"] != "created"]
    assert added == {
        "type": "artifacts_added",
        "actor": "local",
        "payload": {"count": 3, "roles": {"bundle": 1, "statepoint": 1, "parquet": 1}},
    }
    # the files are parts of the run's record: no event of their own
    assert await count(session, models.Event) == 2


async def test_agent_outputs_are_kept_as_history(graphql: GraphQLClient) -> None:
    run = await create_run(graphql)
    plans = [{"rationale": "first"}, {"rationale": "second"}]
    for plan in plans:
        await graphql.data(
            STORE_AGENT_OUTPUT,
            input={
                "runId": run["id"],
                "agent": "planner",
                "kind": "simulation_plan",
                "data": plan,
                "schemaVersion": "0.1",
            },
        )
    data = await graphql.data(
        """query($id: ID!) { node(id: $id) { ... on Run {
          all: agentOutputs { nodes { agent kind data schemaVersion } }
          latest: agentOutputs(where: {agent: {eq: "planner"}, kind: {eq: "simulation_plan"}},
                               orderBy: [{field: CREATED_AT, direction: DESC}], first: 1) {
            nodes { data }
          }
        } } }""",
        id=run["id"],
    )
    assert [output["data"] for output in data["node"]["all"]["nodes"]] == plans
    assert data["node"]["all"]["nodes"][0]["schemaVersion"] == "0.1"
    assert data["node"]["latest"]["nodes"] == [{"data": {"rationale": "second"}}]


async def test_store_agent_output_with_an_idempotency_key_stores_once(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    input = {
        "runId": run["id"],
        "agent": "reporter",
        "kind": "report",
        "data": {"keff": 1.0234},
        "idempotencyKey": "report-1",
    }
    first = (await graphql.data(STORE_AGENT_OUTPUT, input=input))["storeAgentOutput"]
    again = (await graphql.data(STORE_AGENT_OUTPUT, input=input))["storeAgentOutput"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["agentOutput"] == first["agentOutput"]
    assert await count(session, models.AgentOutput) == 1


async def test_initializing_a_trajectory_again_with_the_same_values_is_no_change(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    input = {"runId": run["id"], "index": 3, "targetLength": 500, "initAtoms": WATER}
    first = (await graphql.data(INITIALIZE_TRAJECTORY, input=input))["initializeTrajectory"]
    assert first["created"] is True
    assert first["trajectory"]["initAtoms"] == WATER
    assert first["trajectory"]["run"] == {"id": run["id"]}
    events = await count(session, models.Event)
    again = (await graphql.data(INITIALIZE_TRAJECTORY, input=input))["initializeTrajectory"]
    assert again == {**first, "created": False}
    assert await count(session, models.Trajectory) == 1
    assert await count(session, models.Event) == events


async def test_concurrent_initializations_of_one_trajectory_make_one(
    committed_graphql: GraphQLClient,
) -> None:
    run = await create_run(committed_graphql, f"run-{uuid.uuid4()}")
    input = {"runId": run["id"], "index": 0, "targetLength": 10, "initAtoms": WATER}
    results = await asyncio.gather(
        *(committed_graphql.data(INITIALIZE_TRAJECTORY, input=input) for _ in range(10))
    )
    payloads = [result["initializeTrajectory"] for result in results]
    assert sorted(payload["created"] for payload in payloads) == [False] * 9 + [True]
    assert len({payload["trajectory"]["id"] for payload in payloads}) == 1


async def test_chunk_attempts_are_numbered_per_chunk_index(graphql: GraphQLClient) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    first = await add_chunk(
        graphql,
        trajectory["id"],
        0,
        modelVersion="mace-v1",
        frameCount=50,
        file={"path": "/frames/0/0.traj"},
    )
    assert first == {
        "id": first["id"],
        "index": 0,
        "attempt": 1,
        "auditStatus": "PENDING",
        "modelVersion": "mace-v1",
        "frameCount": 50,
        "file": {"path": "/frames/0/0.traj"},
    }
    bulk = (
        await graphql.data(
            ADD_CHUNK_ATTEMPTS,
            input={
                "trajectoryId": trajectory["id"],
                "chunks": [{"index": 1}, {"index": 0}, {"index": 1, "auditStatus": "FAILED"}],
            },
        )
    )["addChunkAttempts"]["chunks"]
    assert [(c["index"], c["attempt"], c["auditStatus"]) for c in bulk] == [
        (1, 1, "PENDING"),
        (0, 2, "PENDING"),
        (1, 2, "FAILED"),
    ]
    for chunk in [first, *bulk]:
        (created,) = await events_of(graphql, chunk["id"])
        assert created["type"] == "created"
        assert (created["payload"]["index"], created["payload"]["attempt"]) == (
            chunk["index"],
            chunk["attempt"],
        )
    assert (await events_of(graphql, first["id"]))[0]["payload"]["file_path"] == "/frames/0/0.traj"


async def test_add_chunk_attempt_with_an_idempotency_key_adds_once(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    input = {"trajectoryId": trajectory["id"], "index": 4, "idempotencyKey": "chunk-4"}
    first = (await graphql.data(ADD_CHUNK_ATTEMPT, input=input))["addChunkAttempt"]
    again = (await graphql.data(ADD_CHUNK_ATTEMPT, input=input))["addChunkAttempt"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["chunk"] == first["chunk"]
    assert await count(session, models.Chunk) == 1


async def test_chunks_completed_follows_passed_audits(graphql: GraphQLClient) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    chunks = [await add_chunk(graphql, trajectory["id"], index) for index in (0, 1, 2)]
    completed = """query($id: ID!) { node(id: $id) { ... on Trajectory { chunksCompleted } } }"""
    assert (await graphql.data(completed, id=trajectory["id"]))["node"] == {"chunksCompleted": []}
    for chunk, status in zip(chunks, ["PASSED", "FAILED", "PASSED"], strict=True):
        audited = (await graphql.data(SET_AUDIT, input={"id": chunk["id"], "auditStatus": status}))[
            "setChunkAuditStatus"
        ]["chunk"]
        assert audited["auditStatus"] == status
    assert (await graphql.data(completed, id=trajectory["id"]))["node"] == {
        "chunksCompleted": [0, 2]
    }
    retry = await add_chunk(graphql, trajectory["id"], 1)
    await graphql.data(SET_AUDIT, input={"id": retry["id"], "auditStatus": "PASSED"})
    assert (await graphql.data(completed, id=trajectory["id"]))["node"] == {
        "chunksCompleted": [0, 1, 2]
    }
    (_, audit) = await events_of(graphql, chunks[1]["id"])
    assert (audit["type"], audit["payload"]) == (
        "audit_status_changed",
        {"from": "PENDING", "to": "FAILED"},
    )


async def test_bulk_writes_take_the_same_statements_for_any_length(
    graphql: GraphQLClient, statements: StatementCounter
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    counts = []
    for length in (2, 40):
        chunks = [{"index": n % 3, "file": {"path": f"/frames/{n}.traj"}} for n in range(length)]
        artifacts = [{"role": "frames", "file": {"path": f"/a/{n}"}} for n in range(length)]
        statements.reset()
        await graphql.data(
            ADD_CHUNK_ATTEMPTS, input={"trajectoryId": trajectory["id"], "chunks": chunks}
        )
        await graphql.data(ADD_ARTIFACTS, input={"runId": run["id"], "artifacts": artifacts})
        counts.append(statements.count)
    # chunks: lock, last attempts, files, chunks, events, then the payload's files;
    # artifacts: lock, files, artifacts, event, then the payload's artifacts and files
    # (each event insert takes the event log's lock and notifies in the same statement)
    assert counts == [12, 12], statements.statements
