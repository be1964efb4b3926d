"""The hub's subscriptions on their own: a subscriber too slow for its queue loses
nothing, and what subscribers share is closed once the last is done with it. The
listener's connection: lost again and again, it is back at once each time; refused
while the database is down, it is tried again at a small capped pace; silent, it is
given up for a new one."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scimeta import models
from scimeta.live import hub as hub_module
from scimeta.live.hub import Delivery, Hub, Interest
from scimeta.server.app import listener_connect_args
from scimeta.server.database import create_sessionmaker
from scimeta.writes.transaction import transaction
from tests.live.conftest import MESSAGE_TIMEOUT, bound_socket


async def new_events(engine: AsyncEngine, count: int) -> list[models.Event]:
    """`count` committed events about one new run, as read back."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        async with transaction(session, "test") as writer:
            run = await writer.create(models.Run(name=f"hub-{uuid.uuid4().hex[:10]}"))
            for n in range(count - 1):
                writer.event(run, "noted", {"n": n})
        rows = await session.scalars(
            select(models.Event)
            .where(models.Event.subject_type == "Run", models.Event.subject_id == run.id)
            .order_by(models.Event.sequence)
        )
        return list(rows)


class Shared:
    """Something subscriptions share, that records being closed."""

    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_a_subscriber_whose_queue_overflows_reads_the_rest_from_the_log_once(
    live_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 2)
    events = await new_events(live_engine, 6)
    interest = Interest(frozenset({"Run"}), None, frozenset({events[0].subject_id}))
    hub = Hub({})
    async with hub.subscribe(interest) as subscription, AsyncSession(live_engine) as session:
        subscription.start_live(events[0].sequence)
        delivery = Delivery()
        # the hub hands over five events: two fit the queue, the rest are not kept
        for event in events[1:]:
            subscription.offer(event, delivery)
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            queued = await subscription.next_events(session)
        shared = delivery.shared("reads", Shared)
        assert isinstance(shared, Shared)
        assert subscription.delivery is delivery
        await subscription.finish_batch()
        # a subscriber that lost events must not wait for more: it reads them
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            read_back = await subscription.next_events(session)

    assert [e.sequence for e in queued] == [e.sequence for e in events[1:3]]
    assert [e.sequence for e in read_back] == [e.sequence for e in events[3:]]
    assert [e.payload for e in read_back] == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert subscription.cursor == events[-1].sequence
    # held by two queued events, closed when the subscriber was done with both
    assert shared.closed == 1


async def test_a_delivery_is_closed_when_its_last_holder_lets_go() -> None:
    delivery = Delivery()
    for _ in range(3):
        delivery.hold()
    shared = delivery.shared("reads", Shared)
    assert delivery.shared("reads", Shared) is shared
    await delivery.release()
    await delivery.release()
    assert isinstance(shared, Shared) and shared.closed == 0
    await delivery.release()
    assert shared.closed == 1


async def more_events(engine: AsyncEngine, run_id: int) -> models.Event:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        async with transaction(session, "test") as writer:
            event = writer.event(await writer.get(models.Run, run_id), "noted", {"n": "late"})
        return event


async def test_live_events_already_read_from_the_log_are_let_go_and_skipped(
    live_engine: AsyncEngine,
) -> None:
    events = await new_events(live_engine, 3)
    interest = Interest(frozenset({"Run"}), None, frozenset({events[0].subject_id}))
    hub = Hub({})
    async with hub.subscribe(interest) as subscription, AsyncSession(live_engine) as session:
        subscription.start_after(events[0].sequence - 1)
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            replayed = await subscription.next_events(session)
        # the hub hands over the last two again, as it does when they committed while
        # the subscription read the log
        stale = Delivery()
        shared = stale.shared("reads", Shared)
        for event in events[1:]:
            subscription.offer(event, stale)
        waiting = asyncio.create_task(subscription.next_events(session))
        while subscription._queue.qsize():
            await asyncio.sleep(0)  # let the task take the queue; no time passes
        assert isinstance(shared, Shared) and shared.closed == 1
        late = await more_events(live_engine, events[0].subject_id)
        subscription.offer(late, Delivery())
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            fresh = await waiting

    assert [e.sequence for e in replayed] == [e.sequence for e in events]
    assert [e.sequence for e in fresh] == [late.sequence]


async def test_what_subscribers_share_is_closed_when_those_pushing_it_are_done(
    live_engine: AsyncEngine,
) -> None:
    """A subscriber slow to get to a batch does not keep the others' reads open (each
    would hold a database connection): it makes its own when it gets there."""
    events = await new_events(live_engine, 2)
    interest = Interest(frozenset({"Run"}), None, frozenset({events[0].subject_id}))
    hub = Hub({})
    async with (
        hub.subscribe(interest) as fast,
        hub.subscribe(interest) as slow,
        AsyncSession(live_engine) as session,
    ):
        for subscription in (fast, slow):
            subscription.start_live(events[0].sequence)
        delivery = Delivery()
        for subscription in (fast, slow):
            subscription.offer(events[1], delivery)
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            await fast.next_events(session)
        first = delivery.shared("reads", Shared)
        await fast.finish_batch()
        closed_before_the_slow_one_came = isinstance(first, Shared) and first.closed
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            await slow.next_events(session)
        second = delivery.shared("reads", Shared)
        await slow.finish_batch()

    assert closed_before_the_slow_one_came == 1
    assert second is not first
    assert isinstance(second, Shared) and second.closed == 1


# how long the listener may take, from losing its connection, to hear again (and deliver
# what was committed meanwhile)
RECONNECT_SECONDS = 1.0


async def new_listener(hub: Hub, old: int | None) -> int:
    """The listener's database process once it is another than `old` (polled, within a
    bound)."""
    async with asyncio.timeout(MESSAGE_TIMEOUT):
        while (pid := hub.backend_pid) in (None, old):
            await asyncio.sleep(0.005)
    assert pid is not None
    return pid


async def test_the_listener_is_back_at_once_each_time_its_connection_is_killed(
    live_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Each loss is retried at once, however many came before: a backoff that grew with
    every blip in a process's life would leave subscriptions silent for seconds."""
    caplog.set_level(logging.DEBUG, logger=hub_module.__name__)
    hub = Hub(listener_connect_args(create_sessionmaker(live_engine)))
    await hub.start()
    [first] = await new_events(live_engine, 1)
    interest = Interest(frozenset({"Run"}), None, frozenset({first.subject_id}))
    timings: list[float] = []
    delivered: list[list[int]] = []
    committed: list[int] = []
    try:
        async with hub.subscribe(interest) as subscription, AsyncSession(live_engine) as session:
            subscription.start_live(first.sequence)
            for n in range(6):
                listener = hub.backend_pid
                started = time.monotonic()
                async with (
                    AsyncSession(live_engine, expire_on_commit=False) as writing,
                    transaction(writing, "test") as writer,
                ):
                    # the listener is signalled first: by the commit it is gone
                    await writing.execute(
                        text("SELECT pg_terminate_backend(:pid)"), {"pid": listener}
                    )
                    run = await writer.get(models.Run, first.subject_id)
                    event = writer.event(run, "noted", {"n": n})
                committed.append(event.sequence)
                async with asyncio.timeout(MESSAGE_TIMEOUT):
                    events = await subscription.next_events(session)
                await subscription.finish_batch()
                await new_listener(hub, listener)
                timings.append(time.monotonic() - started)
                delivered.append([e.sequence for e in events])
                # caught up, and the next loss is to be retried at once again
                assert hub.retry_delay == 0
    finally:
        await hub.stop()

    assert delivered == [[sequence] for sequence in committed]
    assert hub.reconnects == 6
    assert max(timings) < RECONNECT_SECONDS, timings
    losses = [r for r in caplog.records if "connection lost" in r.getMessage()]
    assert len(losses) == 6
    # an outage is a warning of one line, not a failure with a traceback
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in losses)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_attempts_failing_in_a_row_back_off_to_a_small_cap_each_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the database is down the listener keeps trying, soon at the capped pace
    that bounds how late it hears of the database being back; the outage is one warning,
    not a traceback per attempt."""
    caplog.set_level(logging.DEBUG, logger=hub_module.__name__)
    # a port nothing listens on: every connect is refused at once
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()
    hub = Hub({"host": "127.0.0.1", "port": port, "user": "nobody", "database": "none"})
    starting = asyncio.create_task(hub.start())
    try:
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            while hub.reconnects < 7:
                await asyncio.sleep(0.01)
    finally:
        await hub.stop()
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)

    assert not hub.connected.is_set()
    records = [r for r in caplog.records if r.name == hub_module.__name__]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    [warning] = [r for r in records if r.levelno >= logging.INFO]
    assert warning.levelno == logging.WARNING
    assert "ConnectionRefusedError" in warning.getMessage()
    # the first retry is not put off at all; then the pause doubles up to the cap
    pauses = [
        float(match.group(1))
        for r in records
        if (match := re.search(r"next in ([0-9.]+) s$", r.getMessage()))
    ]
    assert pauses[:6] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    assert max(pauses) == hub_module.MAX_RETRY_SECONDS


class Relay:
    """A TCP relay to the database that can stop passing on what it is sent, closing
    nothing, as a network that starts dropping packets does. Connections made after
    that are relayed."""

    def __init__(self, database: dict[str, Any]) -> None:
        self._database = database
        self._flowing: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def freeze(self) -> None:
        """Pass on nothing more on the connections open now."""
        for flowing in self._flowing:
            flowing.clear()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self._database["host"], self._database.get("port", 5432)
        if host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host, port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await self._upstream()
        self._writers += [writer, upstream_writer]
        flowing = asyncio.Event()
        flowing.set()
        self._flowing.append(flowing)
        for source, target in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, target, flowing))
            self._tasks.add(task)

    async def _pipe(
        self, source: asyncio.StreamReader, target: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        while data := await source.read(65536):
            await flowing.wait()
            target.write(data)
            await target.drain()
        target.close()


async def test_a_listening_connection_that_stops_answering_is_given_up_for_a_new_one(
    live_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No socket closes when the network between drops packets: the poll's statement,
    unanswered within a bound, tells the listener its connection is gone."""
    monkeypatch.setattr(hub_module, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(hub_module, "STATEMENT_SECONDS", 0.3)
    database = listener_connect_args(create_sessionmaker(live_engine))
    [first] = await new_events(live_engine, 1)
    interest = Interest(frozenset({"Run"}), None, frozenset({first.subject_id}))
    async with Relay(database) as relay:
        hub = Hub({**database, "host": "127.0.0.1", "port": relay.port})
        await hub.start()
        try:
            async with (
                hub.subscribe(interest) as subscription,
                AsyncSession(live_engine) as session,
            ):
                subscription.start_live(first.sequence)
                listener = hub.backend_pid
                relay.freeze()
                started = time.monotonic()
                # its notification is held with everything else on the frozen connection
                event = await more_events(live_engine, first.subject_id)
                async with asyncio.timeout(MESSAGE_TIMEOUT):
                    events = await subscription.next_events(session)
                await subscription.finish_batch()
                await new_listener(hub, listener)
                elapsed = time.monotonic() - started
        finally:
            await hub.stop()

    assert [e.sequence for e in events] == [event.sequence]
    assert hub.reconnects == 1
    # the next poll, its statement's bound, and a new connection
    assert elapsed < 0.2 + 0.3 + RECONNECT_SECONDS, elapsed
