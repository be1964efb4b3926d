"""The WebSocket's limits on a server that really listens: graphql-transport-ws only, a
deadline for `connection_init`, and a cap on the operations open at once on one socket."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from scimeta.operation_limits import Limits
from tests.conftest import GraphQLClient
from tests.live.conftest import (
    MESSAGE_TIMEOUT,
    STARTUP_TIMEOUT,
    LiveServer,
    Subscriber,
    serving,
)
from tests.live.test_subscriptions import newest_sequence

INIT_TIMEOUT_SECONDS = 1.0
EVENT_ADDED = """
subscription($types: [String!], $after: Long) {
  eventAdded(subjectType: "Study", types: $types, afterSequence: $after) {
    sequence type subjectId
  }
}"""
CREATE_STUDY = """
mutation($name: String!) { createStudy(input: {name: $name}) { study { id } } }"""


@pytest.fixture
async def limited_server(live_engine: AsyncEngine) -> AsyncIterator[LiveServer]:
    limits = Limits(
        connection_init_timeout_seconds=INIT_TIMEOUT_SECONDS, max_subscriptions_per_socket=2
    )
    async with serving(live_engine, limits=limits) as server:
        yield server


async def close_of(url: str, subprotocol: str) -> tuple[int | None, str | None]:
    """How the server closes a new connection on which the client sends nothing: the
    close code and reason."""
    async with connect(
        url,
        subprotocols=[subprotocol],  # type: ignore[list-item]
        open_timeout=STARTUP_TIMEOUT,
    ) as websocket:
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT)
    return websocket.close_code, websocket.close_reason


async def test_a_client_that_does_not_send_connection_init_in_time_is_closed_with_4408(
    limited_server: LiveServer,
) -> None:
    opened = time.monotonic()
    code, reason = await close_of(limited_server.ws_url, "graphql-transport-ws")
    assert (code, reason) == (4408, "Connection initialisation timeout")
    assert time.monotonic() - opened >= INIT_TIMEOUT_SECONDS
    # one that sends it at once is acknowledged
    async with Subscriber.connect(limited_server.ws_url) as subscriber:
        assert subscriber.websocket.close_code is None


async def test_another_subprotocol_is_closed_with_4406(limited_server: LiveServer) -> None:
    code, reason = await close_of(limited_server.ws_url, "graphql-ws")
    assert (code, reason) == (4406, "Subprotocol not acceptable")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_an_operation_over_the_cap_gets_an_error_and_the_socket_carries_on(
    limited_server: LiveServer, live_engine: AsyncEngine
) -> None:
    async with (
        httpx.AsyncClient(base_url=limited_server.base_url, timeout=MESSAGE_TIMEOUT) as client,
        Subscriber.connect(limited_server.ws_url) as subscriber,
    ):
        http = GraphQLClient(client)
        after = await newest_sequence(live_engine)
        first = await subscriber.subscribe(EVENT_ADDED, types=["created"], after=after)
        second = await subscriber.subscribe(EVENT_ADDED, types=["created"], after=after)
        over = await subscriber.subscribe(EVENT_ADDED, types=["created"], after=after)
        # a query counts as an open operation as much as a subscription does
        query = await subscriber.subscribe("{ __typename }")
        refusals = [await subscriber.message(over), await subscriber.message(query)]

        study = await http.data(CREATE_STUDY, name=unique("capped"))
        study_id = study["createStudy"]["study"]["id"]
        to_first = (await subscriber.next(first))["eventAdded"]
        to_second = (await subscriber.next(second))["eventAdded"]

        # once one is completed, the socket takes a new operation
        await subscriber.stop(second)
        third = await subscriber.subscribe(
            EVENT_ADDED, types=["created"], after=to_first["sequence"]
        )
        later = await http.data(CREATE_STUDY, name=unique("capped"))
        later_id = later["createStudy"]["study"]["id"]
        to_first_later = (await subscriber.next(first))["eventAdded"]
        to_third = (await subscriber.next(third))["eventAdded"]
        assert subscriber.pending(over) == subscriber.pending(query) == 0
        assert subscriber.websocket.close_code is None

    for refusal in refusals:
        assert refusal["type"] == "error", refusal
        [error] = refusal["payload"]
        assert error["extensions"]["code"] == "TOO_MANY_OPERATIONS"
        assert "already has 2 operations open" in error["message"]
        assert "complete one first" in error["message"]
    assert to_first["subjectId"] == to_second["subjectId"] == study_id
    assert to_first_later["subjectId"] == to_third["subjectId"] == later_id
