"""Two server processes on one database, as behind a load balancer: a change committed
through one reaches a subscriber connected to the other."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import GraphQLClient
from tests.live.conftest import STARTUP_TIMEOUT, Subscriber, server_process
from tests.live.test_subscriptions import (
    CREATE_STUDY,
    RUN_CHANGED,
    SET_RUN_PHASE,
    SET_RUN_STATUS,
    new_run,
    newest_sequence,
    unique,
)


async def test_a_mutation_through_one_process_reaches_a_subscriber_of_the_other(
    live_url: str, live_engine: AsyncEngine
) -> None:
    with server_process(live_url) as writer_port, server_process(live_url) as reader_port:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{writer_port}", timeout=STARTUP_TIMEOUT
        ) as client:
            http = GraphQLClient(client)
            study = (await http.data(CREATE_STUDY, name=unique("two-processes")))["createStudy"]
            run = await new_run(http, study["study"]["id"])
            url = f"ws://127.0.0.1:{reader_port}/graphql"
            async with Subscriber.connect(url) as subscriber:
                operation = await subscriber.subscribe(
                    RUN_CHANGED, id=run["id"], after=await newest_sequence(live_engine)
                )
                await http.data(SET_RUN_STATUS, id=run["id"], status="RUNNING")
                first = (await subscriber.next(operation))["runChanged"]
                # registered by now: this one travels by NOTIFY to the other process
                await http.data(SET_RUN_PHASE, id=run["id"], phase="EXECUTE")
                second = (await subscriber.next(operation))["runChanged"]

    assert first["event"]["payload"] == {"from": "PENDING", "to": "RUNNING"}
    assert second["event"]["type"] == "phase_changed"
    assert second["sequence"] > first["sequence"]
    assert second["run"]["phase"] == "EXECUTE"
    assert second["run"]["study"] == {"name": study["study"]["name"]}
