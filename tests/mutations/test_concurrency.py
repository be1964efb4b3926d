"""Server-allocated numbers stay unique and consecutive when many clients write at once.

Each request runs on its own database connection and transaction; they are started
together and the database's row locks decide their order.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import GraphQLClient
from tests.mutations.test_jobs import CREATE_JOB, create_project

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
