"""Subscribers whose messages are the same share their execution: one execution and one
encoding per event for subscribers with one document, the same variables where they
shape the message, and the same visibility; never across visibilities, and each
subscriber still gets only the events it may see and asked for."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from graphql import get_operation_ast, parse
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from scimeta.auth.tokens import Grant
from scimeta.live.shared import message_key
from scimeta.models import Role
from scimeta.server.database import create_engine
from tests.conftest import DatabaseFactory, GraphQLClient, counting_statements
from tests.live.conftest import MESSAGE_TIMEOUT, LiveServer, serving
from tests.live.test_authentication_live import _revoke, _row_id, data, make_token
from tests.live.test_fan_out import note
from tests.live.test_subscriptions import CREATE_STUDY, new_run, newest_sequence, row_id, unique

WATCH = """
subscription Watch($id: ID, $after: Long) {
  runChanged(id: $id, afterSequence: $after) {
    sequence event { type } run { id name status study { name } }
  }
}"""
ALL_RUNS = "subscription { runChanged { sequence run { name study { name } } } }"
UPDATE_RUN = """
mutation($id: ID!, $change: Int!) {
  updateRun(input: {id: $id, attributes: {change: $change}}) { run { id } }
}"""


@contextlib.contextmanager
def counting_executions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[int]]:
    """How many times each event's selection set is executed, by event sequence."""
    executed: Counter[int] = Counter()
    original = StrawberryGraphQLCoreExecutionContext.execute_operation

    def counted(self: Any, serially: bool | None = None) -> Any:
        sequence = getattr(self.root_value, "sequence", None)
        if sequence is not None:
            executed[int(sequence)] += 1
        return original(self, serially)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", counted)
    yield executed


class Socket:
    """One graphql-transport-ws connection with one operation, id "1", read raw: what
    is compared is the text the server sent."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, url: str, query: str, token: str | None = None, **variables: Any
    ) -> AsyncIterator[Socket]:
        async with connect(url, subprotocols=["graphql-transport-ws"]) as websocket:  # type: ignore[list-item]
            payload = {} if token is None else {"token": token}
            await websocket.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT))
            assert ack["type"] == "connection_ack", ack
            subscribe = {"query": query, "variables": variables}
            await websocket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            yield cls(websocket)

    async def frame(self) -> str:
        """The next `next` message, as sent."""
        while True:
            raw = await asyncio.wait_for(self.websocket.recv(), MESSAGE_TIMEOUT)
            assert isinstance(raw, str)
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.websocket.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            return raw

    async def change(self) -> dict[str, Any]:
        change: dict[str, Any] = json.loads(await self.frame())["payload"]["data"]["runChanged"]
        return change


async def test_identical_subscribers_get_the_same_bytes_from_one_execution(
    live_engine: AsyncEngine, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five subscribers of one run on a server that shares and five on one that does not,
    on one database: the sharing server executes each event once and reads the run and
    its study once, and all ten send the same bytes for it. The one that does not share
    sends every message through ASGI, without the frame writer."""
    # the other server reads through an engine of its own: the statements counted are
    # the sharing server's
    other_engine = create_engine(live_url)
    async with (
        contextlib.AsyncExitStack() as cleanup,
        serving(live_engine) as shared,
        serving(other_engine, ws="websockets-sansio") as unshared,
        httpx.AsyncClient(base_url=shared.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        # disposed after the servers stop
        cleanup.push_async_callback(other_engine.dispose)
        http = GraphQLClient(client)
        study = (await http.data(CREATE_STUDY, name=unique("shared")))["createStudy"]["study"]
        run = await new_run(http, study["id"])
        after = await newest_sequence(live_engine)
        async with contextlib.AsyncExitStack() as stack:
            sockets = {
                name: [
                    await stack.enter_async_context(
                        Socket.open(server.ws_url, WATCH, id=run["id"], after=after)
                    )
                    for _ in range(5)
                ]
                for server, name in ((shared, "shared"), (unshared, "unshared"))
            }
            # (the hubs exist once the servers answer)
            shared.hub.share_messages = True
            unshared.hub.share_messages = False
            # the first change settles every subscription in live delivery
            await http.data(UPDATE_RUN, id=run["id"], change=0)
            for socket in [*sockets["shared"], *sockets["unshared"]]:
                await socket.frame()

            with (
                counting_executions(monkeypatch) as executed,
                counting_statements(live_engine) as statements,
            ):
                # committed from outside the servers
                await note(live_url, int(row_id(run["id"])))
                frames = {
                    name: [await socket.frame() for socket in group]
                    for name, group in sockets.items()
                }

    sequence = json.loads(frames["shared"][0])["payload"]["data"]["runChanged"]["sequence"]
    assert len({*frames["shared"], *frames["unshared"]}) == 1
    change = json.loads(frames["shared"][0])["payload"]["data"]["runChanged"]
    assert change["run"]["study"] == {"name": study["name"]}
    # once on the sharing server, once per subscriber on the other
    assert executed[int(sequence)] == 1 + 5
    # the run, then its study
    assert statements.count == 2


async def test_subscribers_that_differ_only_in_the_events_they_choose_share_a_message(
    live_server: LiveServer,
    http: GraphQLClient,
    live_engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`id` and `afterSequence` choose events, not what a message holds: subscribers
    that give different ones still share the execution of an event both get."""
    study = (await http.data(CREATE_STUDY, name=unique("shared")))["createStudy"]["study"]
    run = await new_run(http, study["id"])
    after = await newest_sequence(live_engine)
    async with (
        Socket.open(live_server.ws_url, WATCH, id=run["id"], after=after) as one,
        Socket.open(live_server.ws_url, WATCH, after=after) as every_run,
        Socket.open(live_server.ws_url, WATCH, id=run["id"]) as from_now,
    ):
        await live_server.hub.wait_for_subscriptions(3)
        # what is tested is sharing, whatever SCIMETA_SHARED_SUBSCRIPTIONS says
        live_server.hub.share_messages = True
        await http.data(UPDATE_RUN, id=run["id"], change=0)
        for socket in (one, every_run, from_now):
            await socket.frame()
        with counting_executions(monkeypatch) as executed:
            await http.data(UPDATE_RUN, id=run["id"], change=1)
            frames = [await socket.frame() for socket in (one, every_run, from_now)]

    sequence = json.loads(frames[0])["payload"]["data"]["runChanged"]["sequence"]
    assert len(set(frames)) == 1
    assert executed == {int(sequence): 1}


def test_the_message_key_keeps_the_variables_a_message_uses_and_drops_the_others() -> None:
    document = parse(
        "subscription($id: ID, $after: Long, $last: Int) { runChanged(id: $id, "
        "afterSequence: $after) { run { events(last: $last) { nodes { type } } } } }"
    )
    operation = get_operation_ast(document)
    assert operation is not None

    def key(**variables: Any) -> Any:
        return message_key(operation, {}, variables)

    assert key(id="a", after=1, last=2) == key(id="b", after=5, last=2)
    assert key(id="a", after=1, last=2) != key(id="a", after=1, last=3)


@pytest.fixture
async def engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database of its own: the tokens made here would close the servers of other tests."""
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


async def test_subscribers_are_grouped_by_what_they_may_see(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tokens with a grant on one study share their messages; a token with a grant on
    the other study, and an admin's, are groups of their own. Nobody gets a change to a
    run it may not see."""
    admin = await make_token(engine, Grant(Role.ADMIN))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        runs = {}
        for name in ("mine", "theirs"):
            study = await data(client, CREATE_STUDY, admin, name=name)
            created = await data(
                client,
                "mutation($n: String!, $s: ID!) { createRun(input: {name: $n, studyId: $s}) "
                "{ run { id } } }",
                admin,
                n=f"run of {name}",
                s=study["createStudy"]["study"]["id"],
            )
            runs[name] = created["createRun"]["run"]["id"]
        mine = Grant(Role.VIEWER, study_id=await _row_id(engine, "studies", "mine"))
        theirs = Grant(Role.VIEWER, study_id=await _row_id(engine, "studies", "theirs"))
        tokens = {
            "admin": admin,
            "mine 1": await make_token(engine, mine),
            "mine 2": await make_token(engine, mine),
            "theirs": await make_token(engine, theirs),
        }
        async with contextlib.AsyncExitStack() as stack:
            sockets = {
                who: await stack.enter_async_context(Socket.open(server.ws_url, ALL_RUNS, token))
                for who, token in tokens.items()
            }
            await server.hub.wait_for_subscriptions(len(sockets))
            server.hub.share_messages = True
            with counting_executions(monkeypatch) as executed:
                # the other study's change commits first: pushed to a viewer of "mine",
                # it would come first
                for name in ("theirs", "mine"):
                    await data(client, UPDATE_RUN, admin, id=runs[name], change=1)
                got = {who: [await socket.change()] for who, socket in sockets.items()}
                got["admin"].append(await sockets["admin"].change())
                frames_of_mine = [
                    json.dumps(got[who][0], sort_keys=True) for who in ("mine 1", "mine 2")
                ]

    names = {who: [change["run"]["name"] for change in changes] for who, changes in got.items()}
    assert names == {
        "admin": ["run of theirs", "run of mine"],
        "mine 1": ["run of mine"],
        "mine 2": ["run of mine"],
        "theirs": ["run of theirs"],
    }
    assert frames_of_mine[0] == frames_of_mine[1]
    theirs_sequence, mine_sequence = (change["sequence"] for change in got["admin"])
    # per event, one execution per visibility that gets it: the admin's and the viewers'
    assert executed == {int(theirs_sequence): 2, int(mine_sequence): 2}


async def test_a_revoked_token_stops_its_subscriber_while_its_group_carries_on(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await make_token(engine, Grant(Role.ADMIN))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        created = await data(
            client, 'mutation { createRun(input: {name: "watched"}) { run { id } } }', admin
        )
        run = created["createRun"]["run"]["id"]
        secrets = [await make_token(engine, Grant(Role.ADMIN)) for _ in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(Socket.open(server.ws_url, WATCH, secret, id=run))
                for secret in secrets
            ]
            await server.hub.wait_for_subscriptions(3)
            server.hub.share_messages = True
            await data(client, UPDATE_RUN, admin, id=run, change=0)
            first = [await socket.frame() for socket in sockets]

            heard = asyncio.Event()
            server.hub.token_listeners.append(heard.set)
            await _revoke(engine, secrets[0])
            await asyncio.wait_for(heard.wait(), MESSAGE_TIMEOUT)
            with counting_executions(monkeypatch) as executed:
                for change in (1, 2):
                    await data(client, UPDATE_RUN, admin, id=run, change=change)
                later = [[await socket.frame() for _ in range(2)] for socket in sockets[1:]]
            with pytest.raises(ConnectionClosed) as closed:
                raw = await asyncio.wait_for(sockets[0].websocket.recv(), MESSAGE_TIMEOUT)
                # a message after the revocation would be the bug this test is about
                assert json.loads(raw)["type"] == "ping", raw

    assert len(set(first)) == 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert later[0] == later[1]
    sequences = [
        json.loads(frame)["payload"]["data"]["runChanged"]["sequence"] for frame in later[0]
    ]
    assert executed == {int(sequence): 1 for sequence in sequences}
