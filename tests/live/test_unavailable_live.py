"""Over the WebSocket, an outage of the database is also told as one: an operation gets
SERVICE_UNAVAILABLE (retryable) before it completes, and a socket whose token cannot be
checked is closed with 1013, "try again later", not as one with a bad token."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from scimeta.server.database import create_engine, create_sessionmaker
from tests.live.conftest import (
    MESSAGE_TIMEOUT,
    STARTUP_TIMEOUT,
    LiveServer,
    Subscriber,
    serving,
)

# nothing listens on port 1 of loopback: every connection attempt is refused
NOWHERE = "postgresql://postgres@127.0.0.1:1/scimeta"


async def lifespan_done(server: LiveServer) -> None:
    """Wait until the server has started (its lifespan sets the sessionmaker the test
    then replaces)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while getattr(server.app.state, "hub", None) is None:
        assert time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.01)


async def test_an_operation_on_a_socket_during_an_outage_ends_with_service_unavailable(
    live_engine: AsyncEngine,
) -> None:
    async with serving(live_engine) as server:
        await lifespan_done(server)
        # asked once, the process knows that it runs open: connecting needs no database
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            response = await http.post("/graphql", json={"query": "{ viewer { isAdmin } }"})
            assert response.json()["data"] == {"viewer": {"isAdmin": True}}
        # the database goes away
        nowhere = create_engine(NOWHERE)
        server.app.state.sessionmaker = create_sessionmaker(nowhere)
        async with Subscriber.connect(server.ws_url) as subscriber:
            try:
                # a query, and a subscription that replays from the log
                query = await subscriber.subscribe("{ projects(first: 1) { totalCount } }")
                replay = await subscriber.subscribe(
                    "subscription { eventAdded(afterSequence: 0) { sequence } }"
                )
                for operation in (query, replay):
                    message = await subscriber.message(operation)
                    assert message["type"] in ("next", "error"), message
                    payload = message["payload"]
                    errors = payload["errors"] if message["type"] == "next" else payload
                    assert errors, message
                    for error in errors:
                        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
                        assert error["extensions"]["retryable"] is True
                    if message["type"] == "next":
                        assert (await subscriber.message(operation))["type"] == "complete"
            finally:
                await nowhere.dispose()


async def test_a_socket_whose_token_cannot_be_checked_is_closed_with_try_again_later(
    live_engine: AsyncEngine,
) -> None:
    async with serving(live_engine) as server:
        await lifespan_done(server)
        nowhere = create_engine(NOWHERE)
        server.app.state.sessionmaker = create_sessionmaker(nowhere)
        try:
            async with connect(
                server.ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                open_timeout=STARTUP_TIMEOUT,
            ) as websocket:
                # a token the process has not seen: only the database can tell
                payload = {"Authorization": "Bearer smt_" + "x" * 40}
                await websocket.send(json.dumps({"type": "connection_init", "payload": payload}))
                try:
                    received = await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT)
                except ConnectionClosed as closed:
                    assert closed.rcvd is not None
                    assert closed.rcvd.code == 1013, closed.rcvd
                else:
                    raise AssertionError(f"the socket stayed open and sent {received}")
        finally:
            await nowhere.dispose()
