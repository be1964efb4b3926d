"""Flocks (`scimeta.live.flock`): subscribers whose events and messages are the same are
pushed to by one of them. Whatever joins, leaves, is refused or reads slowly, each
subscriber gets what a subscriber of a server without sharing gets: every event it asked
for, once, in order, with the same bytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.exceptions import ConnectionClosed

from scimeta.auth.tokens import Grant
from scimeta.live import frames
from scimeta.live.hub import Hub
from scimeta.models import Role
from scimeta.server.database import create_engine
from tests.conftest import DatabaseFactory, GraphQLClient
from tests.live.conftest import MESSAGE_TIMEOUT, LiveServer, serving
from tests.live.test_authentication_live import _revoke, make_token
from tests.live.test_shared_execution import UPDATE_RUN, WATCH, Socket
from tests.live.test_subscriptions import CREATE_STUDY, new_run, newest_sequence, unique


def members(hub: Hub) -> int:
    return sum(len(flock.members) for flock in hub.flocks.values())


def sequence_of(frame: str) -> int:
    return int(json.loads(frame)["payload"]["data"]["runChanged"]["sequence"])


class Subscribers:
    """Subscribers of one run on one server, each opened with `afterSequence` = `after`,
    each closed on its own."""

    def __init__(self, server: LiveServer, run: str, after: int, token: str | None = None):
        self.server = server
        self.run = run
        self.after = after
        self.token = token
        self.open: dict[int, tuple[contextlib.AsyncExitStack, Socket]] = {}

    async def add(self, key: int, token: str | None = None) -> Socket:
        stack = contextlib.AsyncExitStack()
        socket = await stack.enter_async_context(
            Socket.open(
                self.server.ws_url, WATCH, token or self.token, id=self.run, after=self.after
            )
        )
        self.open[key] = (stack, socket)
        return socket

    async def close(self, key: int) -> None:
        stack, _ = self.open.pop(key)
        await stack.aclose()

    async def close_all(self) -> None:
        for key in list(self.open):
            await self.close(key)


async def read(socket: Socket, count: int) -> list[str]:
    return [await socket.frame() for _ in range(count)]


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
async def test_flocks_send_what_unshared_subscribers_send_whoever_comes_and_goes(
    live_engine: AsyncEngine, live_url: str, seed: int
) -> None:
    """Random joins, leaves and changes, the same on a server that forms flocks and on
    one that shares nothing (and sends through ASGI): after every step, every subscriber
    of either has had every change since it started, once, in order, the same bytes."""
    rng = random.Random(seed)
    other_engine = create_engine(live_url)
    async with (
        contextlib.AsyncExitStack() as cleanup,
        serving(live_engine) as flocking,
        serving(other_engine, ws="websockets-sansio") as reference,
        httpx.AsyncClient(base_url=flocking.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        cleanup.push_async_callback(other_engine.dispose)
        http = GraphQLClient(client)
        study = (await http.data(CREATE_STUDY, name=unique("flock")))["createStudy"]["study"]
        run = (await new_run(http, study["id"]))["id"]
        start = await newest_sequence(live_engine)
        servers = {"flocking": flocking, "reference": reference}
        groups = {name: Subscribers(server, run, start) for name, server in servers.items()}
        flocking.hub.share_messages = True
        reference.hub.share_messages = False
        sent: list[str] = []
        most_members = 0
        next_key = 0
        try:
            for step in range(40):
                action = rng.choices(["change", "open", "close"], [5, 2, 1])[0]
                if action == "open" or not groups["flocking"].open:
                    key, next_key = next_key, next_key + 1
                    for group in groups.values():
                        socket = await group.add(key)
                        # what it missed since `start`, from the log
                        assert await read(socket, len(sent)) == sent, (step, key)
                elif action == "close":
                    key = rng.choice(sorted(groups["flocking"].open))
                    for group in groups.values():
                        await group.close(key)
                else:
                    await http.data(UPDATE_RUN, id=run, change=step)
                    got = {
                        (name, key): await socket.frame()
                        for name, group in groups.items()
                        for key, (_, socket) in group.open.items()
                    }
                    frame = got[next(iter(got))]
                    assert set(got.values()) == {frame}, (step, got)
                    assert not sent or sequence_of(frame) > sequence_of(sent[-1])
                    sent.append(frame)
                most_members = max(most_members, members(flocking.hub))
        finally:
            for group in groups.values():
                await group.close_all()
    assert len(sent) > 10
    # the flocks were there to be tested
    assert most_members >= 2
    assert members(reference.hub) == 0


async def flock_of_four(
    server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine, token: str | None = None
) -> tuple[Subscribers, str]:
    """Four subscribers of a new run that have formed a flock (a leader and three
    members), each having read the changes that got them there."""
    study = (await http.data(CREATE_STUDY, name=unique("flock")))["createStudy"]["study"]
    run = (await new_run(http, study["id"]))["id"]
    group = Subscribers(server, run, await newest_sequence(live_engine), token)
    for key in range(4):
        await group.add(key)
    server.hub.share_messages = True
    # the first message of each goes through strawberry; after it, each joins
    for change in range(2):
        await http.data(UPDATE_RUN, id=run, change=change)
        for _, socket in group.open.values():
            await socket.frame()
    assert members(server.hub) == 3
    return group, run


def leader_key(server: LiveServer, group: Subscribers) -> int:
    """Which of the group's sockets is its flock's leader: the one whose local port is
    the client port of the leader's connection."""
    [flock] = server.hub.flocks.values()
    assert flock.leader_route is not None
    _, port = flock.leader_route.websocket.ws.scope["client"]
    [key] = [
        key for key, (_, socket) in group.open.items() if socket.websocket.local_address[1] == port
    ]
    return key


async def test_a_flock_outlives_its_leader(live_engine: AsyncEngine) -> None:
    """The leader's client goes: the member furthest behind leads on, and the others get
    every change once."""
    async with (
        serving(live_engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        http = GraphQLClient(client)
        group, run = await flock_of_four(server, http, live_engine)
        try:
            [flock] = server.hub.flocks.values()
            first_leader = flock.leader
            await group.close(leader_key(server, group))
            await server.hub.wait_for_subscriptions(3)
            for change in range(2, 5):
                await http.data(UPDATE_RUN, id=run, change=change)
                got = [await socket.frame() for _, socket in group.open.values()]
                assert len(set(got)) == 1
            # an heir leads the two others
            [flock] = server.hub.flocks.values()
            assert flock.leader is not None and flock.leader is not first_leader
            assert members(server.hub) == 2
        finally:
            await group.close_all()


async def test_a_member_that_goes_leaves_the_others_pushed_to(live_engine: AsyncEngine) -> None:
    async with (
        serving(live_engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        http = GraphQLClient(client)
        group, run = await flock_of_four(server, http, live_engine)
        try:
            leader = leader_key(server, group)
            member = next(key for key in group.open if key != leader)
            await group.close(member)
            await server.hub.wait_for_subscriptions(3)
            for change in range(2, 4):
                await http.data(UPDATE_RUN, id=run, change=change)
                got = [await socket.frame() for _, socket in group.open.values()]
                assert len(set(got)) == 1
            assert members(server.hub) == 2
        finally:
            await group.close_all()


@pytest.fixture
async def token_engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database of its own: the tokens made here would close the servers of other tests
    (a database where a token was ever made needs one for every request)."""
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


async def test_a_member_whose_token_is_revoked_is_refused_and_the_flock_goes_on(
    token_engine: AsyncEngine,
) -> None:
    engine = token_engine
    admin = await make_token(engine, Grant(Role.ADMIN))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        http = GraphQLClient(client)
        client.headers["Authorization"] = f"Bearer {admin}"
        tokens = [await make_token(engine, Grant(Role.ADMIN)) for _ in range(4)]
        study = (await http.data(CREATE_STUDY, name=unique("flock")))["createStudy"]["study"]
        run = (await new_run(http, study["id"]))["id"]
        group = Subscribers(server, run, await newest_sequence(engine))
        for key, token in enumerate(tokens):
            await group.add(key, token)
        server.hub.share_messages = True
        for change in range(2):
            await http.data(UPDATE_RUN, id=run, change=change)
            for _, socket in group.open.values():
                await socket.frame()
        assert members(server.hub) == 3
        try:
            leader = leader_key(server, group)
            revoked = next(key for key in group.open if key != leader)
            heard = asyncio.Event()
            server.hub.token_listeners.append(heard.set)
            await _revoke(engine, tokens[revoked])
            await asyncio.wait_for(heard.wait(), MESSAGE_TIMEOUT)
            await http.data(UPDATE_RUN, id=run, change=2)
            _, refused = group.open.pop(revoked)
            got = [await socket.frame() for _, socket in group.open.values()]
            assert len(set(got)) == 1
            with pytest.raises(ConnectionClosed) as closed:
                raw = await asyncio.wait_for(refused.websocket.recv(), MESSAGE_TIMEOUT)
                assert json.loads(raw)["type"] == "ping", raw
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
            assert members(server.hub) == 2
        finally:
            await group.close_all()


async def test_a_member_that_cannot_take_a_message_now_catches_up_from_the_log(
    live_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member whose connection cannot take a message at once (its client reads too
    slowly: the writer answers None) is let go, reads what it missed from the log and
    gets every change once, in order."""
    async with (
        serving(live_engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        http = GraphQLClient(client)
        group, run = await flock_of_four(server, http, live_engine)
        try:
            leader = leader_key(server, group)
            slow = next(key for key in group.open if key != leader)
            _, slow_socket = group.open[slow]
            slow_port = slow_socket.websocket.local_address[1]
            original = frames.FrameWriter.write_text
            refused: list[int] = []

            def busy(self: frames.FrameWriter, text: str, wire: Any = None) -> bool | None:
                protocol: Any = self._protocol
                if protocol.client[1] == slow_port and not refused:
                    refused.append(slow_port)
                    return None
                return original(self, text, wire)

            monkeypatch.setattr(frames.FrameWriter, "write_text", busy)
            sent = []
            for change in range(2, 6):
                await http.data(UPDATE_RUN, id=run, change=change)
                got = [await socket.frame() for _, socket in group.open.values()]
                assert len(set(got)) == 1
                sent.append(got[0])
            assert refused == [slow_port]
            assert [sequence_of(frame) for frame in sent] == sorted(
                {sequence_of(frame) for frame in sent}
            )
        finally:
            await group.close_all()


async def test_a_leader_whose_client_reads_slowly_hands_the_flock_on(
    live_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leader whose own connection cannot take more (its client reads slowly) would hold
    up every member behind it: at its next batch it hands the flock on and pushes only
    for itself."""
    async with (
        serving(live_engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        http = GraphQLClient(client)
        group, run = await flock_of_four(server, http, live_engine)
        try:
            [flock] = server.hub.flocks.values()
            slow_leader = flock.leader
            _, slow_socket = group.open[leader_key(server, group)]
            slow_port = slow_socket.websocket.local_address[1]
            original = frames.FrameWriter.writable

            def writable(self: frames.FrameWriter) -> bool:
                protocol: Any = self._protocol
                return protocol.client[1] != slow_port and original.fget(self)  # type: ignore[attr-defined]

            monkeypatch.setattr(frames.FrameWriter, "writable", property(writable))
            for change in range(2, 5):
                await http.data(UPDATE_RUN, id=run, change=change)
                got = [await socket.frame() for _, socket in group.open.values()]
                assert len(set(got)) == 1
            [flock] = server.hub.flocks.values()
            assert flock.leader is not None and flock.leader is not slow_leader
        finally:
            await group.close_all()
