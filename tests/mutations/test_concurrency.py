"""Server-allocated numbers stay unique and consecutive when many clients write at once.

Each request runs on its own database connection and transaction; they are started
together and the database's row locks decide their order.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import GraphQLClient
from tests.jobs.test_jobs import CREATE_JOB, SET_STATUS, create_project

CLIENTS = 20


async def test_concurrent_job_creations_get_consecutive_numbers(
    committed_graphql: GraphQLClient,
) -> None:
    project = await create_project(committed_graphql, f"concurrent-{uuid.uuid4()}")
    parent = (
        await committed_graphql.data(
            CREATE_JOB, input={"projectId": project["id"], "taskName": "pipeline"}
        )
    )["createJob"]["job"]

    results = await asyncio.gather(
        *(
            committed_graphql.data(
                CREATE_JOB, input={"parentId": parent["id"], "taskName": f"step{n}"}
            )
            for n in range(CLIENTS)
        )
    )

    numbers = sorted(int(r["createJob"]["job"]["number"].split(".")[1]) for r in results)
    assert numbers == list(range(1, CLIENTS + 1))
    assert {r["createJob"]["job"]["number"].split(".")[0] for r in results} == {parent["number"]}


async def test_concurrent_top_level_jobs_and_a_failed_one_leave_no_gap(
    committed_graphql: GraphQLClient,
) -> None:
    project = await create_project(committed_graphql, f"concurrent-{uuid.uuid4()}")
    good = [
        committed_graphql.data(CREATE_JOB, input={"projectId": project["id"], "taskName": "t"})
        for _ in range(CLIENTS)
    ]
    # refused by the database after its number was taken: its rollback gives it back
    bad = committed_graphql.execute(
        CREATE_JOB, input={"projectId": project["id"], "taskName": "t" * 300}
    )
    *results, refused = await asyncio.gather(*good, bad)
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "too long" in refused["errors"][0]["message"]
    numbers = sorted(int(r["createJob"]["job"]["number"]) for r in results)
    assert numbers == list(range(1, CLIENTS + 1))


async def test_two_writers_finishing_one_job_cannot_both_win(
    committed_graphql: GraphQLClient,
) -> None:
    project = await create_project(committed_graphql, f"concurrent-{uuid.uuid4()}")
    job = (
        await committed_graphql.data(
            CREATE_JOB, input={"projectId": project["id"], "taskName": "t"}
        )
    )["createJob"]["job"]
    await committed_graphql.data(SET_STATUS, id=job["id"], status="RUNNING")

    succeeded, failed = await asyncio.gather(
        committed_graphql.execute(SET_STATUS, id=job["id"], status="SUCCEEDED"),
        committed_graphql.execute(SET_STATUS, id=job["id"], status="FAILED"),
    )

    outcomes = [body.get("errors") is None for body in (succeeded, failed)]
    assert sorted(outcomes) == [False, True]
    loser = succeeded if failed.get("errors") is None else failed
    assert loser["errors"][0]["extensions"]["reason"] == "ILLEGAL_TRANSITION"
    events = await committed_graphql.data(
        """query($id: ID!) { events(where: {subject: {eq: $id}, type: {eq: "status_changed"}})
        { nodes { payload } } }""",
        id=job["id"],
    )
    assert [e["payload"]["from"] for e in events["events"]["nodes"]] == ["PENDING", "RUNNING"]


async def test_concurrent_updates_at_one_version_keep_exactly_one(
    committed_graphql: GraphQLClient,
) -> None:
    project = await create_project(committed_graphql, f"concurrent-{uuid.uuid4()}")
    job = (
        await committed_graphql.data(
            CREATE_JOB, input={"projectId": project["id"], "taskName": "t"}
        )
    )["createJob"]["job"]
    update = "mutation($input: UpdateJobInput!) { updateJob(input: $input) { job { title } } }"

    results = await asyncio.gather(
        *(
            committed_graphql.execute(
                update, input={"id": job["id"], "title": f"title {n}", "expectedVersion": 1}
            )
            for n in range(5)
        )
    )

    winners = [r["data"]["updateJob"]["job"]["title"] for r in results if not r.get("errors")]
    reasons = [r["errors"][0]["extensions"]["reason"] for r in results if r.get("errors")]
    assert len(winners) == 1
    assert reasons == ["STALE_VERSION"] * 4
    current = await committed_graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Job { title version } } }", id=job["id"]
    )
    assert current["node"] == {"title": winners[0], "version": 2}


async def test_concurrent_retries_with_one_idempotency_key_create_one_job(
    committed_graphql: GraphQLClient,
) -> None:
    project = await create_project(committed_graphql, f"concurrent-{uuid.uuid4()}")
    input = {"projectId": project["id"], "taskName": "t", "idempotencyKey": str(uuid.uuid4())}

    results = await asyncio.gather(
        *(committed_graphql.data(CREATE_JOB, input=input) for _ in range(5))
    )

    assert len({r["createJob"]["job"]["id"] for r in results}) == 1
    assert sorted(r["createJob"]["replayed"] for r in results) == [False] + [True] * 4
    jobs = await committed_graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Project { allJobs { totalCount } } } }",
        id=project["id"],
    )
    assert jobs["node"]["allJobs"]["totalCount"] == 1
