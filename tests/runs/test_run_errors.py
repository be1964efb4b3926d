"""Bad input to the runs mutations: each is refused with a code (and reason) and a message
that says what to change, and leaves the database as it was."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.relay import GlobalID

from tests.conftest import GraphQLClient
from tests.runs.test_runs import (
    ADD_ARTIFACTS,
    ADD_CHUNK_ATTEMPT,
    ADD_CHUNK_ATTEMPTS,
    CREATE_RUN,
    INITIALIZE_TRAJECTORY,
    SET_AUDIT,
    SET_RUN_PHASE,
    SET_RUN_STATUS,
    STORE_AGENT_OUTPUT,
    UPDATE_RUN,
    UPSERT_STUDY,
    WATER,
    add_chunk,
    create_run,
    initialize_trajectory,
)
from tests.support.snapshots import database_state

MISSING_RUN = str(GlobalID("Run", "999999999"))


async def refused(
    graphql: GraphQLClient,
    session: AsyncSession,
    document: str,
    input: dict[str, Any],
    code: str,
    reason: str | None = None,
) -> str:
    """Run a mutation that must fail; check its code, reason and that nothing was written.
    Returns the message."""
    before = await database_state(session)
    body = await graphql.execute(document, input=input)
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["extensions"].get("reason") == reason, error
    assert await database_state(session) == before
    message: str = error["message"]
    return message


async def node(graphql: GraphQLClient, node_id: str, fields: str) -> Any:
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on {fields} }} }}"
    return (await graphql.data(query, id=node_id))["node"]


@pytest.mark.parametrize(
    ("document", "input"),
    [
        (SET_RUN_STATUS, {"id": MISSING_RUN, "status": "RUNNING"}),
        (SET_RUN_PHASE, {"id": MISSING_RUN, "phase": "EXECUTE"}),
        (UPDATE_RUN, {"id": MISSING_RUN, "attributes": {}}),
        (
            ADD_ARTIFACTS,
            {"runId": MISSING_RUN, "artifacts": [{"role": "b", "file": {"path": "/b"}}]},
        ),
        (STORE_AGENT_OUTPUT, {"runId": MISSING_RUN, "agent": "a", "kind": "k", "data": {}}),
        (INITIALIZE_TRAJECTORY, {"runId": MISSING_RUN, "index": 0, "targetLength": 1}),
    ],
)
async def test_an_unknown_run_is_not_found(
    graphql: GraphQLClient, session: AsyncSession, document: str, input: dict[str, Any]
) -> None:
    message = await refused(graphql, session, document, input, "NOT_FOUND")
    assert f"No Run has the id {MISSING_RUN}" in message


@pytest.mark.parametrize(
    ("document", "chunks"),
    [(ADD_CHUNK_ATTEMPT, None), (ADD_CHUNK_ATTEMPTS, [{"index": 0}])],
)
async def test_an_unknown_trajectory_is_not_found(
    graphql: GraphQLClient, session: AsyncSession, document: str, chunks: Any
) -> None:
    missing = str(GlobalID("Trajectory", "999999999"))
    input = {"trajectoryId": missing, **({"chunks": chunks} if chunks else {"index": 0})}
    message = await refused(graphql, session, document, input, "NOT_FOUND")
    assert f"No Trajectory has the id {missing}" in message


async def test_an_unknown_study_of_a_new_run_is_not_found(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    message = await refused(
        graphql, session, CREATE_RUN, {"name": "r", "specHash": "c" * 64}, "NOT_FOUND"
    )
    assert "No study has the specHash" in message
    assert "upsertStudyBySpec" in message
    missing = str(GlobalID("Study", "999999999"))
    message = await refused(
        graphql, session, CREATE_RUN, {"name": "r", "studyId": missing}, "NOT_FOUND"
    )
    assert f"No Study has the id {missing}" in message


async def test_a_study_given_twice_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    study = (await graphql.data(UPSERT_STUDY, input={"spec": {"a": 1}}))["upsertStudyBySpec"]
    input = {"name": "r", "studyId": study["study"]["id"], "specHash": study["study"]["specHash"]}
    message = await refused(graphql, session, CREATE_RUN, input, "BAD_USER_INPUT")
    assert "studyId or by specHash, not both" in message


async def test_an_id_of_another_type_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    message = await refused(
        graphql,
        session,
        SET_RUN_STATUS,
        {"id": trajectory["id"], "status": "RUNNING"},
        "BAD_USER_INPUT",
    )
    assert message == "id must be the id of a Run, not of a Trajectory."
    message = await refused(
        graphql,
        session,
        ADD_CHUNK_ATTEMPT,
        {"trajectoryId": run["id"], "index": 0},
        "BAD_USER_INPUT",
    )
    assert message == "trajectoryId must be the id of a Trajectory, not of a Run."


async def test_a_succeeded_run_cannot_run_again(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    for status in ("RUNNING", "SUCCEEDED"):
        await graphql.data(SET_RUN_STATUS, input={"id": run["id"], "status": status})
    before = await node(graphql, run["id"], "Run { status startedAt endedAt version }")
    message = await refused(
        graphql,
        session,
        SET_RUN_STATUS,
        {"id": run["id"], "status": "RUNNING"},
        "CONFLICT",
        "ILLEGAL_TRANSITION",
    )
    assert "is SUCCEEDED and cannot become RUNNING" in message
    assert "nothing (it is final)" in message
    assert await node(graphql, run["id"], "Run { status startedAt endedAt version }") == before


async def test_a_phase_cannot_go_back(graphql: GraphQLClient, session: AsyncSession) -> None:
    run = await create_run(graphql)
    await graphql.data(SET_RUN_PHASE, input={"id": run["id"], "phase": "EXTRACT"})
    message = await refused(
        graphql,
        session,
        SET_RUN_PHASE,
        {"id": run["id"], "phase": "EXECUTE", "status": "RUNNING"},
        "CONFLICT",
        "ILLEGAL_TRANSITION",
    )
    assert "is in phase EXTRACT and cannot go back to EXECUTE" in message
    assert "BUNDLE -> EXECUTE -> EXTRACT -> DONE" in message
    assert await node(graphql, run["id"], "Run { phase status }") == {
        "phase": "EXTRACT",
        "status": "PENDING",
    }


async def test_a_status_given_with_a_phase_must_be_legal_too(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    message = await refused(
        graphql,
        session,
        SET_RUN_PHASE,
        {"id": run["id"], "phase": "DONE", "status": "SUCCEEDED"},
        "CONFLICT",
        "ILLEGAL_TRANSITION",
    )
    assert "is PENDING and cannot become SUCCEEDED" in message
    # the phase change of the same call was rolled back with it
    assert await node(graphql, run["id"], "Run { phase }") == {"phase": "BUNDLE"}


async def test_a_passed_chunk_cannot_be_audited_again(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    chunk = await add_chunk(graphql, trajectory["id"], 0)
    await graphql.data(SET_AUDIT, input={"id": chunk["id"], "auditStatus": "PASSED"})
    message = await refused(
        graphql,
        session,
        SET_AUDIT,
        {"id": chunk["id"], "auditStatus": "FAILED"},
        "CONFLICT",
        "ILLEGAL_TRANSITION",
    )
    assert "was already audited PASSED" in message
    assert "Add a new attempt instead" in message
    assert await node(graphql, chunk["id"], "Chunk { auditStatus }") == {"auditStatus": "PASSED"}


@pytest.mark.parametrize(
    ("init_atoms", "explanation"),
    [
        (
            {**WATER, "positions": WATER["positions"][:2]},
            "initAtoms.positions has 2 rows; it needs 3",
        ),
        ([WATER], "initAtoms must be a JSON object with symbols and positions"),
        ("H2O", "not str"),
        ({"positions": [[0, 0, 0]]}, "initAtoms.symbols must be a non-empty list"),
        ({**WATER, "symbols": ["O", "Hx", "H"]}, "initAtoms.symbols[1] is 'Hx', not an element"),
        ({"symbols": ["H"]}, "initAtoms needs positions"),
        ({"symbols": ["H"], "positions": [[0, 1]]}, "initAtoms.positions[0] must be three numbers"),
        ({"symbols": ["H"], "positions": [[0, True, 1]]}, "initAtoms.positions[0] must be three"),
        ({**WATER, "cell": [[10, 0, 0]]}, "initAtoms.cell has 1 rows; it needs 3"),
        ({**WATER, "pbc": [1, 1, 1]}, "initAtoms.pbc must be three booleans"),
        ({**WATER, "velocities": []}, "unknown keys velocities; it takes symbols, positions"),
    ],
)
async def test_malformed_init_atoms_are_refused(
    graphql: GraphQLClient, session: AsyncSession, init_atoms: Any, explanation: str
) -> None:
    run = await create_run(graphql)
    input = {"runId": run["id"], "index": 0, "targetLength": 10, "initAtoms": init_atoms}
    message = await refused(graphql, session, INITIALIZE_TRAJECTORY, input, "BAD_USER_INPUT")
    assert explanation in message


async def test_a_trajectory_initialized_again_with_other_values_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"], index=2)
    input = {
        "runId": run["id"],
        "index": 2,
        "targetLength": 100,
        "initAtoms": {**WATER, "pbc": [True] * 3},
    }
    message = await refused(
        graphql, session, INITIALIZE_TRAJECTORY, input, "CONFLICT", "ALREADY_EXISTS"
    )
    assert f"Trajectory 2 of run 'run_xyz789' exists ({trajectory['id']})" in message
    assert await node(graphql, trajectory["id"], "Trajectory { initAtoms }") == {"initAtoms": WATER}


@pytest.mark.parametrize(
    ("document", "input", "field"),
    [
        (INITIALIZE_TRAJECTORY, {"index": -1, "targetLength": 10}, "index"),
        (INITIALIZE_TRAJECTORY, {"index": 0, "targetLength": -5}, "targetLength"),
        (ADD_CHUNK_ATTEMPT, {"index": -1}, "index"),
        (ADD_CHUNK_ATTEMPT, {"index": 0, "frameCount": -1}, "frameCount"),
        (
            ADD_CHUNK_ATTEMPTS,
            {"chunks": [{"index": 0}, {"index": 1, "frameCount": -3}]},
            "chunks[1].frameCount",
        ),
    ],
)
async def test_negative_numbers_are_refused(
    graphql: GraphQLClient,
    session: AsyncSession,
    document: str,
    input: dict[str, Any],
    field: str,
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"], index=9)
    parent = (
        {"runId": run["id"]}
        if document == INITIALIZE_TRAJECTORY
        else {"trajectoryId": trajectory["id"]}
    )
    message = await refused(graphql, session, document, {**parent, **input}, "BAD_USER_INPUT")
    assert message.startswith(f"{field} must be 0 or more")


async def test_a_taken_run_name_is_refused(graphql: GraphQLClient, session: AsyncSession) -> None:
    run = await create_run(graphql, "run_xyz789")
    message = await refused(
        graphql, session, CREATE_RUN, {"name": "run_xyz789"}, "CONFLICT", "ALREADY_EXISTS"
    )
    assert (
        message == f"A run named 'run_xyz789' already exists ({run['id']}); run names are unique."
    )


async def test_a_new_spec_under_a_taken_study_name_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    study = (await graphql.data(UPSERT_STUDY, input={"spec": {"a": 1}, "name": "pincell"}))[
        "upsertStudyBySpec"
    ]["study"]
    message = await refused(
        graphql,
        session,
        UPSERT_STUDY,
        {"spec": {"a": 2}, "name": "pincell"},
        "CONFLICT",
        "ALREADY_EXISTS",
    )
    assert message.startswith(
        f"The study name 'pincell' is taken by {study['id']}, a study with specHash "
        f"{study['specHash']}. Choose another name"
    )


async def test_a_spec_that_is_no_object_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    message = await refused(graphql, session, UPSERT_STUDY, {"spec": [1, 2]}, "BAD_USER_INPUT")
    assert message == "spec must be a JSON object ({...}), not list."


async def test_too_many_chunk_attempts_in_one_call_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    trajectory = await initialize_trajectory(graphql, run["id"])
    input = {"trajectoryId": trajectory["id"], "chunks": [{"index": 0}] * 1001}
    message = await refused(graphql, session, ADD_CHUNK_ATTEMPTS, input, "BAD_USER_INPUT")
    assert "chunks has 1001 entries; one call takes at most 1000" in message


@pytest.mark.parametrize(
    ("status", "error", "explanation"),
    [
        ("FAILED", "segfault", "error must be a JSON object ({...}), not str."),
        ("FAILED", ["segfault"], "error must be a JSON object ({...}), not list."),
        ("CANCELLED", {"message": "x"}, "pass it with status FAILED, not CANCELLED."),
    ],
)
async def test_a_run_error_must_be_an_object_given_with_failed(
    graphql: GraphQLClient, session: AsyncSession, status: str, error: Any, explanation: str
) -> None:
    run = await create_run(graphql)
    await graphql.data(SET_RUN_STATUS, input={"id": run["id"], "status": "RUNNING"})
    input = {"id": run["id"], "status": status, "error": error}
    message = await refused(graphql, session, SET_RUN_STATUS, input, "BAD_USER_INPUT")
    assert message.endswith(explanation)
    assert await node(graphql, run["id"], "Run { status error }") == {
        "status": "RUNNING",
        "error": None,
    }


async def test_an_idempotency_key_reused_for_other_input_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    await graphql.data(CREATE_RUN, input={"name": "run_a", "idempotencyKey": "submit-1"})
    message = await refused(
        graphql,
        session,
        CREATE_RUN,
        {"name": "run_b", "idempotencyKey": "submit-1"},
        "CONFLICT",
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert "The idempotency key 'submit-1' was used for a different call" in message


async def test_an_empty_artifact_role_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    run = await create_run(graphql)
    artifacts = [{"role": "bundle", "file": {"path": "/b"}}, {"role": "", "file": {"path": "/s"}}]
    input = {"runId": run["id"], "artifacts": artifacts}
    message = await refused(graphql, session, ADD_ARTIFACTS, input, "BAD_USER_INPUT")
    assert message == "artifacts[1].role must not be empty."
