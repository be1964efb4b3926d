"""Seed 000's trajectory workflow, call by call, as mutations; then its queries through
the read API.

    initialize_trajectory                       -> initializeTrajectory
    get_next_attempt_index + add_chunk_attempt  -> addChunkAttempt (the server numbers it)
    update_chunk_audit_status                   -> setChunkAuditStatus
    get_passed_chunks                           -> Trajectory.chunks(where: auditStatus PASSED)
    get_trajectory(...).chunks_completed        -> Trajectory.chunksCompleted
"""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient
from tests.runs.test_runs import SET_AUDIT, WATER, add_chunk, create_run

INITIALIZE = """
mutation($input: InitializeTrajectoryInput!) {
  initializeTrajectory(input: $input) { created trajectory { id index targetLength } }
}"""
TRAJECTORY = """
query($run: String!, $index: Int!) {
  trajectories(where: {run: {name: {eq: $run}}, index: {eq: $index}}) { nodes {
    id index targetLength initAtoms chunksCompleted
    passed: chunks(where: {auditStatus: {eq: PASSED}}) { nodes { index attempt modelVersion } }
    attempts: chunks { totalCount groups(by: [INDEX]) { key { index } count } }
    retried: chunks(where: {index: {eq: 1}}) { nodes { attempt auditStatus frameCount } }
  } }
}"""
EVENTS = """
query($ids: [ID!]) {
  events(where: {subject: {in: $ids}}) { nodes { subjectId type payload } }
}"""


async def audit(graphql: GraphQLClient, chunk: dict[str, Any], status: str) -> None:
    data = await graphql.data(SET_AUDIT, input={"id": chunk["id"], "auditStatus": status})
    assert data["setChunkAuditStatus"]["chunk"]["auditStatus"] == status


async def trajectory(graphql: GraphQLClient, index: int) -> Any:
    data = await graphql.data(TRAJECTORY, run="cascade-01", index=index)
    (node,) = data["trajectories"]["nodes"]
    return node


async def test_seed_000_workflow(graphql: GraphQLClient) -> None:
    run = await create_run(graphql, "cascade-01")

    # db_traj = initialize_trajectory(run_id, traj_id, target_length, init_atoms)
    for index in (0, 1):
        data = await graphql.data(
            INITIALIZE,
            input={"runId": run["id"], "index": index, "targetLength": 300, "initAtoms": WATER},
        )
        assert data["initializeTrajectory"]["created"] is True
    first = await trajectory(graphql, 0)

    # attempt_index = get_next_attempt_index(...); add_chunk_attempt(..., attempt_index)
    chunks = [
        await add_chunk(graphql, first["id"], index, modelVersion="mace-v1", frameCount=100)
        for index in (0, 1, 2)
    ]
    other = await add_chunk(graphql, (await trajectory(graphql, 1))["id"], 1)
    assert [chunk["attempt"] for chunk in [*chunks, other]] == [1, 1, 1, 1]

    # update_chunk_audit_status(..., audit_status=PASSED or FAILED)
    for chunk, status in zip(chunks, ["PASSED", "FAILED", "PASSED"], strict=True):
        await audit(graphql, chunk, status)
    assert (await trajectory(graphql, 0))["chunksCompleted"] == [0, 2]

    # the failed chunk is generated again with a newer model: its second attempt
    retry = await add_chunk(graphql, first["id"], 1, modelVersion="mace-v2", frameCount=98)
    assert (retry["index"], retry["attempt"], retry["auditStatus"]) == (1, 2, "PENDING")
    await audit(graphql, retry, "PASSED")

    # get_trajectory(run_id, traj_id); get_passed_chunks(run_id, traj_id)
    read = await trajectory(graphql, 0)
    assert read["id"] == first["id"]
    assert (read["index"], read["targetLength"], read["initAtoms"]) == (0, 300, WATER)
    assert read["chunksCompleted"] == [0, 1, 2]
    assert read["passed"]["nodes"] == [
        {"index": 0, "attempt": 1, "modelVersion": "mace-v1"},
        {"index": 1, "attempt": 2, "modelVersion": "mace-v2"},
        {"index": 2, "attempt": 1, "modelVersion": "mace-v1"},
    ]
    assert read["attempts"] == {
        "totalCount": 4,
        "groups": [
            {"key": {"index": 0}, "count": 1},
            {"key": {"index": 1}, "count": 2},
            {"key": {"index": 2}, "count": 1},
        ],
    }
    assert read["retried"]["nodes"] == [
        {"attempt": 1, "auditStatus": "FAILED", "frameCount": 100},
        {"attempt": 2, "auditStatus": "PASSED", "frameCount": 98},
    ]
    # the other trajectory's chunks are its own
    assert (await trajectory(graphql, 1))["chunksCompleted"] == []

    # the audit trail: each attempt's creation and its audit, in order
    ids = [first["id"], *(chunk["id"] for chunk in [*chunks, retry])]
    events = (await graphql.data(EVENTS, ids=ids))["events"]["nodes"]
    summary = [
        (ids.index(event["subjectId"]), event["type"], event["payload"].get("to"))
        for event in events
    ]
    assert summary == [
        (0, "created", None),
        (1, "created", None),
        (2, "created", None),
        (3, "created", None),
        (1, "audit_status_changed", "PASSED"),
        (2, "audit_status_changed", "FAILED"),
        (3, "audit_status_changed", "PASSED"),
        (4, "created", None),
        (4, "audit_status_changed", "PASSED"),
    ]
    created_retry = events[7]["payload"]
    assert (created_retry["index"], created_retry["attempt"]) == (1, 2)
    assert created_retry["model_version"] == "mace-v2"
