"""Two server processes on one database, as behind a load balancer: a change committed
through one reaches a subscriber connected to the other."""

from __future__ import annotations

import asyncio
import signal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import GraphQLClient
from tests.live.conftest import MESSAGE_TIMEOUT, STARTUP_TIMEOUT, Subscriber, server_process
from tests.live.test_subscriptions import (
    CREATE_STUDY,
    RUN_CHANGED,
    SET_RUN_PHASE,
    SET_RUN_STATUS,
    new_run,
    newest_sequence,
    row_id,
    unique,
)


async def test_a_mutation_through_one_process_reaches_a_subscriber_of_the_other(
    live_url: str, live_engine: AsyncEngine
) -> None:
    with server_process(live_url) as writer, server_process(live_url) as reader:
        async with httpx.AsyncClient(base_url=writer.base_url, timeout=STARTUP_TIMEOUT) as client:
            http = GraphQLClient(client)
            study = (await http.data(CREATE_STUDY, name=unique("two-processes")))["createStudy"]
            run = await new_run(http, study["study"]["id"])
            async with Subscriber.connect(reader.ws_url) as subscriber:
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


async def test_shutdown_finishes_the_request_in_flight_and_closes_subscriptions_to_resume(
    live_url: str, live_engine: AsyncEngine
) -> None:
    with server_process(live_url) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=STARTUP_TIMEOUT) as client:
            http = GraphQLClient(client)
            run = await new_run(http)
            async with Subscriber.connect(server.ws_url) as subscriber:
                operation = await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=0)
                assert (await subscriber.next(operation))["runChanged"]["event"]["type"] == (
                    "created"
                )
                async with live_engine.connect() as blocker:
                    # hold the run's row so that the mutation is in flight at the signal
                    await blocker.execute(
                        text("SELECT 1 FROM runs WHERE id = :id FOR UPDATE"),
                        {"id": int(row_id(run["id"]))},
                    )
                    in_flight = asyncio.create_task(
                        http.execute(SET_RUN_STATUS, id=run["id"], status="RUNNING")
                    )
                    await waiting_on_a_lock(live_engine)
                    server.process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(subscriber.websocket.wait_closed(), MESSAGE_TIMEOUT)
                    await blocker.rollback()
                response = await in_flight
                close_code = subscriber.websocket.close_code
        _, log = server.process.communicate(timeout=60)

    assert close_code == 1012  # service restart: reconnect, with afterSequence
    assert response["data"]["setRunStatus"]["run"]["status"] == "RUNNING"
    assert b"Traceback" not in log, log.decode()


async def waiting_on_a_lock(engine: AsyncEngine) -> None:
    """Return once a session of the database waits for a row lock (polled, within a
    bound)."""
    async with asyncio.timeout(MESSAGE_TIMEOUT), engine.connect() as connection:
        while True:
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            await connection.rollback()
            if waiting:
                return
            await asyncio.sleep(0.02)
