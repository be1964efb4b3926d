"""Attempt numbers of chunk attempts stay unique and gap-free when many clients add
attempts to one trajectory at once; each request has its own connection and transaction."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import GraphQLClient
from tests.runs.test_runs import (
    ADD_CHUNK_ATTEMPT,
    ADD_CHUNK_ATTEMPTS,
    create_run,
    initialize_trajectory,
)

CLIENTS = 20


async def new_trajectory(graphql: GraphQLClient) -> str:
    run = await create_run(graphql, f"concurrent-{uuid.uuid4()}")
    trajectory = await initialize_trajectory(graphql, run["id"])
    trajectory_id: str = trajectory["id"]
    return trajectory_id


async def test_concurrent_attempts_at_one_chunk_are_numbered_1_to_n(
    committed_graphql: GraphQLClient,
) -> None:
    trajectory_id = await new_trajectory(committed_graphql)
    results = await asyncio.gather(
        *(
            committed_graphql.data(
                ADD_CHUNK_ATTEMPT,
                input={"trajectoryId": trajectory_id, "index": 7, "modelVersion": f"m{n}"},
            )
            for n in range(CLIENTS)
        )
    )
    chunks = [result["addChunkAttempt"]["chunk"] for result in results]
    assert sorted(chunk["attempt"] for chunk in chunks) == list(range(1, CLIENTS + 1))
    assert {chunk["index"] for chunk in chunks} == {7}


async def test_concurrent_attempts_at_two_chunks_are_numbered_per_chunk(
    committed_graphql: GraphQLClient,
) -> None:
    trajectory_id = await new_trajectory(committed_graphql)
    singles = [
        committed_graphql.data(
            ADD_CHUNK_ATTEMPT, input={"trajectoryId": trajectory_id, "index": n % 2}
        )
        for n in range(CLIENTS)
    ]
    # a bulk call takes two attempts at each chunk among the single ones
    bulk = committed_graphql.data(
        ADD_CHUNK_ATTEMPTS,
        input={"trajectoryId": trajectory_id, "chunks": [{"index": i} for i in (0, 1, 0, 1)]},
    )
    *results, bulk_result = await asyncio.gather(*singles, bulk)
    chunks = [r["addChunkAttempt"]["chunk"] for r in results]
    chunks += bulk_result["addChunkAttempts"]["chunks"]
    for index in (0, 1):
        attempts = sorted(chunk["attempt"] for chunk in chunks if chunk["index"] == index)
        assert attempts == list(range(1, CLIENTS // 2 + 3))
    bulk_attempts = [(c["index"], c["attempt"]) for c in bulk_result["addChunkAttempts"]["chunks"]]
    # within one call, attempts at a chunk follow the order given
    assert bulk_attempts[2][1] == bulk_attempts[0][1] + 1
    assert bulk_attempts[3][1] == bulk_attempts[1][1] + 1


async def test_a_refused_attempt_leaves_no_gap(committed_graphql: GraphQLClient) -> None:
    trajectory_id = await new_trajectory(committed_graphql)
    good = [
        committed_graphql.data(ADD_CHUNK_ATTEMPT, input={"trajectoryId": trajectory_id, "index": 0})
        for _ in range(CLIENTS)
    ]
    # refused by the database while it holds the trajectory's lock: the others wait for its
    # rollback, and it leaves nothing behind to number after
    bad = committed_graphql.execute(
        ADD_CHUNK_ATTEMPT,
        input={
            "trajectoryId": trajectory_id,
            "index": 0,
            "modelVersion": "m",
            "file": {"path": "/frames/0.traj", "mimetype": "x" * 300},
        },
    )
    *results, refused = await asyncio.gather(*good, bad)
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    attempts = sorted(r["addChunkAttempt"]["chunk"]["attempt"] for r in results)
    assert attempts == list(range(1, CLIENTS + 1))
    data = await committed_graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Trajectory { chunks { totalCount } } } }",
        id=trajectory_id,
    )
    assert data["node"]["chunks"]["totalCount"] == CLIENTS
