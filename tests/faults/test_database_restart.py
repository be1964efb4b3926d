"""The database restarts under load: the real server on an embedded PostgreSQL of the
suite's own, with HTTP reads, writes retried under idempotency keys as a worker retries
them, and three WebSocket subscribers of every event, when the database is stopped and
started again.

What must hold: no write the server acknowledged is lost; each subscriber gets exactly
the committed events, in order, each once (resuming with `afterSequence` whenever its
operation or socket ends, as the contract tells a client to); subscribers hear of new
events within a second of the database accepting connections again; and while it is
down, clients are told so with a 503 they may retry. The listener is also killed six
times in a row through the running server, and is back within a second each time.

The scenario runs once (`restart`); each test checks one of its promises.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from scimeta import models
from scimeta.live.hub import Hub
from scimeta.writes.transaction import transaction
from tests.faults.conftest import EmbeddedDatabase
from tests.live.conftest import MESSAGE_TIMEOUT, LiveServer

# from the database accepting connections again (or the listener losing its connection)
# to subscribers receiving an event committed after that
LIVE_AGAIN_SECONDS = 1.0
# a steady load: each loop sends its next request this long after the last one answered
PACE_SECONDS = 0.02
# a client's pause before it tries again after a refusal or a dropped socket
RETRY_PAUSE_SECONDS = 0.05
# the outage lasts until reads, writes and the probe have all met it, or this long
OUTAGE_SECONDS = 5.0
# writes acknowledged after the restart before the load stops
WRITES_AFTER_RESTART = 5
GRAPHQL_RESPONSE = {"Accept": "application/graphql-response+json"}

EVENT_ADDED = """
subscription($after: Long) { eventAdded(afterSequence: $after) { sequence type subjectType } }"""
CREATE_RUN = """
mutation($name: String!, $key: String!) {
  createRun(input: {name: $name, idempotencyKey: $key}) { replayed run { id } }
}"""
READ_RUNS = "{ runs(first: 5) { nodes { id name status } } }"


class ResumingSubscriber:
    """A graphql-transport-ws client of every event after `cursor`. When its operation
    ends (an error, `complete`) or its socket does, it subscribes again with the last
    sequence it received as `afterSequence`, as the documented contract tells a client
    to. `received` keeps every sequence as it arrived, duplicates included."""

    def __init__(self, url: str, cursor: int) -> None:
        self.url = url
        self.cursor = cursor
        self.received: list[int] = []
        self.arrivals: dict[int, float] = {}
        # what ended an operation or a socket, as the client saw it
        self.interruptions: list[str] = []
        # subscribe messages sent, over every socket
        self.subscriptions = 0
        self._changed = asyncio.Condition()
        self._websocket: ClientConnection | None = None

    async def follow(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                async with connect(
                    self.url,
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    open_timeout=MESSAGE_TIMEOUT,
                ) as websocket:
                    self._websocket = websocket
                    await self._initialise(websocket)
                    while True:
                        await self._subscribe(websocket)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                self.interruptions.append(f"socket: {type(exc).__name__}: {exc}")
            # not synchronisation: a client's pause before it connects again
            await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def _initialise(self, websocket: ClientConnection) -> None:
        await websocket.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT))
        if ack["type"] != "connection_ack":
            raise ConnectionClosed(None, None)

    async def _subscribe(self, websocket: ClientConnection) -> None:
        """One operation, from subscribing to its end."""
        self.subscriptions += 1
        operation = str(self.subscriptions)
        payload = {"query": EVENT_ADDED, "variables": {"after": self.cursor}}
        await websocket.send(json.dumps({"id": operation, "type": "subscribe", "payload": payload}))
        async for raw in websocket:
            message = json.loads(raw)
            if message["type"] == "ping":
                await websocket.send(json.dumps({"type": "pong"}))
            elif message.get("id") != operation:
                continue
            elif message["type"] == "next" and not message["payload"].get("errors"):
                await self._received(int(message["payload"]["data"]["eventAdded"]["sequence"]))
            else:
                self.interruptions.append(f"operation: {message}")
                # whatever the server still holds of it goes; then resume after a pause
                await websocket.send(json.dumps({"id": operation, "type": "complete"}))
                # not synchronisation: a client's pause before it subscribes again
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                return
        raise ConnectionClosed(None, None)

    async def drop(self) -> None:
        """Lose the socket, as a client whose network fails does: it connects again."""
        assert self._websocket is not None
        await self._websocket.close()

    async def _received(self, sequence: int) -> None:
        self.received.append(sequence)
        self.arrivals.setdefault(sequence, time.monotonic())
        self.cursor = max(self.cursor, sequence)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, sequence: int) -> float:
        """When the event `sequence` (or a later one) arrived."""
        async with asyncio.timeout(MESSAGE_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: self.cursor >= sequence)
        return self.arrivals.get(sequence, time.monotonic())


@contextlib.asynccontextmanager
async def following(subscribers: Sequence[ResumingSubscriber]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(subscriber.follow()) for subscriber in subscribers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Load:
    """Reads and writes at a steady pace. A write is sent again under the same
    idempotency key until the server acknowledges it, as a worker retries one."""

    http: httpx.AsyncClient
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    acknowledged: dict[str, str] = field(default_factory=dict)
    write_failures: int = 0
    read_statuses: Counter[int] = field(default_factory=Counter)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def read_failures(self) -> int:
        return sum(count for status, count in self.read_statuses.items() if status != 200)

    async def write(self) -> None:
        n = 1
        while not self.stopping.is_set():
            key = f"{self.prefix}-{n}"
            run = await self._create_run(key)
            if run is None:
                # the same key again, as a worker retries a call whose outcome it does not
                # know; not synchronisation: its pause before it does
                self.write_failures += 1
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            self.acknowledged[key] = run
            n += 1
            # not synchronisation: the load's pace
            await asyncio.sleep(PACE_SECONDS)

    async def _create_run(self, key: str) -> str | None:
        """The id of the run the server acknowledges having made under `key`, or None."""
        variables = {"name": f"fault-{key}", "key": key}
        try:
            response = await self.http.post(
                "/graphql", json={"query": CREATE_RUN, "variables": variables}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        if body.get("errors") or not (body.get("data") or {}).get("createRun"):
            return None
        run: str = body["data"]["createRun"]["run"]["id"]
        return run

    async def read(self) -> None:
        while not self.stopping.is_set():
            try:
                response = await self.http.post("/graphql", json={"query": READ_RUNS})
                self.read_statuses[response.status_code] += 1
            except httpx.HTTPError:
                self.read_statuses[0] += 1
            # not synchronisation: the load's pace
            await asyncio.sleep(PACE_SECONDS)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def recording(logger_name: str) -> Iterator[Records]:
    logger = logging.getLogger(logger_name)
    handler = Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def newest_sequence(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        newest = await connection.scalar(select(func.coalesce(func.max(models.Event.sequence), 0)))
    return int(newest)


async def commit_marker(engine: AsyncEngine, terminate: int | None = None) -> int:
    """Commit an event the test knows the sequence of (terminating the backend
    `terminate` first, in the same transaction) and return its sequence."""
    async with (
        AsyncSession(engine, expire_on_commit=False) as session,
        transaction(session, "fault-test") as writer,
    ):
        if terminate is not None:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": terminate})
        run = await writer.create(models.Run(name=f"marker-{uuid.uuid4().hex[:10]}"))
        event = writer.event(run, "noted", {"marker": True})
    return event.sequence


async def committed_after(engine: AsyncEngine, sequence: int) -> list[int]:
    async with engine.connect() as connection:
        rows = await connection.scalars(
            select(models.Event.sequence)
            .where(models.Event.sequence > sequence)
            .order_by(models.Event.sequence)
        )
        return list(rows)


async def until(condition: Any, timeout: float) -> bool:
    """Whether `condition()` came true within `timeout` seconds (polled every 10 ms)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
            return True
    return False


def row_id(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":", 1)[1])


@dataclass
class Restart:
    """What the scenario saw."""

    first: int
    committed: list[int]
    subscribers: list[ResumingSubscriber]
    acknowledged: dict[str, str]
    # the events that made the acknowledged runs: run id -> how many "created" events
    created: Counter[int]
    back_at: float
    marker: int
    outage_answers: list[tuple[int, dict[str, Any]]]
    load: Load
    listener_log: list[logging.LogRecord]


@pytest.fixture(scope="module")
async def restart(
    embedded_database: EmbeddedDatabase, fault_server: LiveServer, fault_engine: AsyncEngine
) -> Restart:
    first = await newest_sequence(fault_engine)
    subscribers = [ResumingSubscriber(fault_server.ws_url, first) for _ in range(3)]
    outage_answers: list[tuple[int, dict[str, Any]]] = []
    with recording("scimeta.live") as listener_log:
        async with (
            httpx.AsyncClient(
                base_url=fault_server.base_url, timeout=MESSAGE_TIMEOUT, headers=GRAPHQL_RESPONSE
            ) as http,
            following(subscribers),
        ):
            load = Load(http)
            tasks = [asyncio.create_task(load.write()), asyncio.create_task(load.read())]
            try:
                # under way: writes acknowledged and heard by every subscriber
                assert await until(lambda: len(load.acknowledged) >= 5, MESSAGE_TIMEOUT)
                warm = await commit_marker(fault_engine)
                for subscriber in subscribers:
                    await subscriber.wait_for(warm)

                await embedded_database.stop()
                writes_failed, reads_failed = load.write_failures, load.read_failures
                probe = asyncio.create_task(probe_outage(http, outage_answers))
                # one subscriber loses its socket meanwhile, and tries to resume at once
                cut_off = subscribers[-1]
                interrupted = len(cut_off.interruptions)
                await cut_off.drop()
                await until(
                    lambda: (
                        len(outage_answers) >= 3
                        and load.write_failures > writes_failed
                        and load.read_failures > reads_failed
                        # the lost socket, and an attempt to resume that the outage foiled
                        and len(cut_off.interruptions) >= interrupted + 2
                    ),
                    OUTAGE_SECONDS,
                )
                probe.cancel()
                await asyncio.gather(probe, return_exceptions=True)
                # the pool's connections died with the server
                await fault_engine.dispose()

                starting = asyncio.create_task(embedded_database.start())
                back_at = await embedded_database.accepting(MESSAGE_TIMEOUT)
                marker = await commit_marker(fault_engine)
                await starting

                for subscriber in subscribers:
                    await subscriber.wait_for(marker)
                # and served again: writes acknowledged, reads answered
                acknowledged, read = len(load.acknowledged), load.read_statuses[200]
                assert await until(
                    lambda: (
                        len(load.acknowledged) >= acknowledged + WRITES_AFTER_RESTART
                        and load.read_statuses[200] > read
                    ),
                    MESSAGE_TIMEOUT,
                )
            finally:
                load.stopping.set()
                async with asyncio.timeout(MESSAGE_TIMEOUT):
                    await asyncio.gather(*tasks)
            last = await commit_marker(fault_engine)
            for subscriber in subscribers:
                await subscriber.wait_for(last)

    async with fault_engine.connect() as connection:
        ids = [row_id(run) for run in load.acknowledged.values()]
        created = Counter(
            (
                await connection.scalars(
                    select(models.Event.subject_id).where(
                        models.Event.subject_type == "Run",
                        models.Event.type == "created",
                        models.Event.subject_id.in_(ids),
                    )
                )
            ).all()
        )
    return Restart(
        first=first,
        committed=await committed_after(fault_engine, first),
        subscribers=subscribers,
        acknowledged=dict(load.acknowledged),
        created=created,
        back_at=back_at,
        marker=marker,
        outage_answers=outage_answers,
        load=load,
        listener_log=listener_log.records,
    )


async def probe_outage(http: httpx.AsyncClient, answers: list[tuple[int, dict[str, Any]]]) -> None:
    """Ask the server for runs while the database is down, keeping each answer."""
    while True:
        try:
            response = await http.post("/graphql", json={"query": READ_RUNS})
            try:
                body = response.json()
            except ValueError:
                body = {"text": response.text}
            answers.append((response.status_code, body))
        except httpx.HTTPError as exc:
            answers.append((0, {"exception": repr(exc)}))
        # not synchronisation: the probe's pace
        await asyncio.sleep(PACE_SECONDS)


async def test_every_acknowledged_write_is_in_the_log_once(restart: Restart) -> None:
    assert len(restart.acknowledged) > WRITES_AFTER_RESTART
    # the load met the outage: writes were refused, and retried until acknowledged
    assert restart.load.write_failures > 0
    ids = [row_id(run) for run in restart.acknowledged.values()]
    assert len(set(ids)) == len(ids)
    assert restart.created == Counter(ids)


async def test_each_subscriber_gets_the_committed_events_in_order_each_once(
    restart: Restart,
) -> None:
    assert restart.committed, "the scenario committed nothing"
    for subscriber in restart.subscribers:
        assert len(subscriber.received) == len(set(subscriber.received)), "duplicates"
        assert subscriber.received == restart.committed


async def test_a_subscriber_that_lost_its_socket_in_the_outage_resumed_where_it_was(
    restart: Restart,
) -> None:
    cut_off = restart.subscribers[-1]
    # its socket ended, and it subscribed again after the last sequence it had (tries
    # that the outage foiled included), until one held
    assert cut_off.interruptions[0].startswith("socket:"), cut_off.interruptions
    assert cut_off.subscriptions >= 2
    assert cut_off.received == restart.committed


async def test_subscribers_are_live_within_a_second_of_the_database_being_back(
    restart: Restart,
) -> None:
    delays = [
        subscriber.arrivals[restart.marker] - restart.back_at for subscriber in restart.subscribers
    ]
    assert max(delays) < LIVE_AGAIN_SECONDS, delays


async def test_the_listener_rides_out_the_restart_without_a_traceback(restart: Restart) -> None:
    messages = [record.getMessage() for record in restart.listener_log]
    assert any("connection lost" in message for message in messages), messages
    assert not [r for r in restart.listener_log if r.exc_info or r.levelno >= logging.ERROR]


async def test_requests_during_the_outage_get_503_service_unavailable_to_retry(
    restart: Restart,
) -> None:
    assert restart.outage_answers, "no answer while the database was down"
    for status, body in restart.outage_answers:
        assert status == 503, (status, body)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
        assert error["extensions"]["retryable"] is True, error


async def new_listener(hub: Hub, old: int | None) -> int:
    """The listener's database process once it is another than `old` (polled, within a
    bound)."""
    async with asyncio.timeout(MESSAGE_TIMEOUT):
        while (pid := hub.backend_pid) in (None, old):
            await asyncio.sleep(0.005)
    assert pid is not None
    return pid


async def test_the_server_listener_is_back_within_a_second_each_time_it_is_killed(
    fault_server: LiveServer, fault_engine: AsyncEngine
) -> None:
    hub = fault_server.hub
    first = await newest_sequence(fault_engine)
    subscribers = [ResumingSubscriber(fault_server.ws_url, first) for _ in range(3)]
    reconnects = hub.reconnects
    timings: list[float] = []
    with recording("scimeta.live") as log:
        async with following(subscribers):
            ready = await commit_marker(fault_engine)
            for subscriber in subscribers:
                await subscriber.wait_for(ready)
            for _ in range(6):
                listener = hub.backend_pid
                started = time.monotonic()
                # the listener is signalled before the event commits: it is gone by then
                marker = await commit_marker(fault_engine, terminate=listener)
                arrivals = [await subscriber.wait_for(marker) for subscriber in subscribers]
                await new_listener(hub, listener)
                timings.append(max([*arrivals, time.monotonic()]) - started)
    committed = await committed_after(fault_engine, first)

    assert max(timings) < LIVE_AGAIN_SECONDS, timings
    assert hub.reconnects - reconnects == 6
    for subscriber in subscribers:
        assert subscriber.received == committed
    assert not [r for r in log.records if r.exc_info or r.levelno >= logging.ERROR]
