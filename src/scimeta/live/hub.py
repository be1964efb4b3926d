"""Each server process's one listener: it hears about committed events through PostgreSQL
LISTEN/NOTIFY and hands them to the subscriptions open in the process.

A writing transaction inserts its events and NOTIFYs the highest sequence number it
wrote (see `scimeta.writes.transaction`). Events commit in sequence order, so the hub
needs no payload but that number: it reads every event after the last one it read, in
order, from the events table. A lost notification therefore loses nothing (the next one,
or the periodic poll, reads what it announced), and after the listening connection drops
the hub reconnects and reads everything committed meanwhile.

A subscription registers its interest (subject types, event types, subject ids) and gets
the matching events in a bounded queue. One that falls too far behind is not given more
memory: it is marked as behind and reads what it missed from the table itself
(`Subscription.next_events`), as a client resuming with `afterSequence` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import metrics
from scimeta.auth.tokens import TOKENS_CHANNEL
from scimeta.live.flock import Flock, close_all
from scimeta.live.shared import sharing_from_env
from scimeta.models import Event, EventLevel
from scimeta.writes.transaction import EVENTS_CHANNEL

logger = logging.getLogger(__name__)

# The hub reads this many events per statement, and a subscription replays this many per
# batch; both are small enough to keep a statement short and a batch in memory.
READ_BATCH = 500
# A subscription that has this many undelivered events stops queueing and catches up from
# the table once its client has read what it had.
QUEUE_LIMIT = 1_000
# Without notifications the hub still looks for new events this often: a safety net for
# a notification lost between a reconnect and LISTEN, and the check that the listening
# connection is alive.
POLL_SECONDS = 5.0
# After losing a connection that was listening the hub reconnects at once: a blip (a
# killed backend, a failover) costs one connection's set-up. Attempts that fail in a row
# (the database is down or restarting) wait this long, doubling up to the maximum, which
# is small because it bounds how late subscribers hear of the database being back.
RETRY_SECONDS = 0.05
MAX_RETRY_SECONDS = 0.5
# The longest the listener waits for a connection to be set up: an attempt that hangs
# (packets to a host that went away are dropped, not refused) is given up in favour of
# a new one, which a database that is back answers.
MAX_CONNECT_SECONDS = 2.0
# The longest the listener waits for the database to answer one of its statements. A
# connection whose packets are dropped (the network between went away, with no reset)
# closes no socket: the poll's statement, unanswered, is what tells it is gone.
STATEMENT_SECONDS = 5.0
APPLICATION_NAME = "scimeta listener"

EVENT_COLUMNS = "sequence, at, subject_type, subject_id, level, type, actor, payload"


class ConnectionLost(Exception):
    pass


# What a lost, refused or broken connection raises, from asyncpg or the socket beneath it
# (OSError covers a refused or timed-out connect). asyncpg raises InternalClientError
# ("cannot switch to state ..., another operation is in progress") for a statement sent
# on a connection the server is closing; PostgresError covers "the database system is
# starting up" or "shutting down" and a terminated backend. Each is an outage the
# listener rides out by reconnecting, not a fault in it.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    ConnectionLost,
)


@dataclass(frozen=True)
class Interest:
    """Which events a subscription wants; None means any."""

    subject_types: frozenset[str] | None = None
    types: frozenset[str] | None = None
    subject_ids: frozenset[int] | None = None

    def wants(self, event: Event) -> bool:
        return (
            (self.subject_types is None or event.subject_type in self.subject_types)
            and (self.types is None or event.type in self.types)
            and (self.subject_ids is None or event.subject_id in self.subject_ids)
        )

    def condition(self) -> ColumnElement[bool]:
        """The same test as SQL, for reading missed events from the table."""
        conditions: list[ColumnElement[bool]] = []
        if self.subject_types is not None:
            conditions.append(Event.subject_type.in_(sorted(self.subject_types)))
        if self.types is not None:
            conditions.append(Event.type.in_(sorted(self.types)))
        if self.subject_ids is not None:
            conditions.append(Event.subject_id.in_(sorted(self.subject_ids)))
        return and_(true(), *conditions)


class HubClosed(Exception):
    """The server is shutting down: subscriptions end."""


class Closeable(Protocol):
    async def close(self) -> None: ...


class Delivery:
    """One batch of events the hub read, as handed to every subscription that wants some
    of it, and what the subscriptions pushing it at the same moment share (`shared`, made
    by the first that asks for it under a key): the hub knows nothing of what that is.
    The subscriptions share their reads (a thousand browser tabs watching one run then
    cost one read of the run, not a thousand: `scimeta.operation.Context.batch_scope`),
    and those whose messages are the same their execution and encoding too
    (`scimeta.live.shared`). What is shared lives while some subscription is pushing the
    batch (`hold` .. `release`), so a subscriber that is slow to get to it holds nothing
    meanwhile (and reads for itself when it does)."""

    def __init__(self) -> None:
        self._holders = 0
        self._shared: dict[Hashable, Closeable] = {}

    def hold(self) -> None:
        self._holders += 1

    def shared(self, key: Hashable, make: Callable[[], Closeable]) -> Closeable:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    async def release(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            shared, self._shared = self._shared, {}
            for item in shared.values():
                # close them all, whatever one of them raises
                try:
                    await item.close()
                except Exception:
                    logger.warning("could not close what a batch shared", exc_info=True)


class Subscription:
    """One subscriber's view of the event stream: every matching event after `cursor`,
    in sequence order, each once."""

    def __init__(self, hub: Hub, interest: Interest) -> None:
        self.hub = hub
        self.interest = interest
        self.cursor = 0
        # the batch the last events came from, while its subscriber pushes them
        self.delivery: Delivery | None = None
        self._queue: asyncio.Queue[tuple[Event, Delivery] | None] = asyncio.Queue()
        self._behind = False
        self._replaying = False
        # waiting in a flock (scimeta.live.flock), whose leader pushes its events: its
        # queue is not fed
        self.passive = False

    @property
    def live(self) -> bool:
        """Pushing events as they come, none of them waiting: between batches, the
        moment a subscriber may join a flock (or hand one on) without missing any."""
        return not self._replaying and not self._behind and self._queue.empty()

    def start_after(self, sequence: int) -> None:
        """Deliver the events after `sequence`: first those already committed, read from
        the table, then live ones."""
        self.cursor = sequence
        self._replaying = True

    def start_live(self, newest: int) -> None:
        """Deliver the events after `newest`, the newest committed one read after this
        subscription was registered: all that follow reach its queue."""
        self.cursor = newest
        self._replaying = False

    def offer(self, event: Event, delivery: Delivery) -> None:
        if self._behind or self.passive:
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._behind = True
            return
        self._queue.put_nowait((event, delivery))

    def close(self) -> None:
        self._queue.put_nowait(None)

    def backlog(self) -> list[tuple[Event, Delivery]] | None:
        """The events waiting in the queue, taken out of it; None if some were lost (it
        fell behind, or is reading the log) or the hub closed."""
        if self._behind or self._replaying:
            return None
        items: list[tuple[Event, Delivery]] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return None
            items.append(item)
        return items

    async def finish_batch(self) -> None:
        """Done pushing the last events: let go of their delivery."""
        delivery, self.delivery = self.delivery, None
        if delivery is not None:
            await delivery.release()

    def _drop_queue(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def next_events(self, session: AsyncSession | Callable[[], AsyncSession]) -> list[Event]:
        """The next events after the cursor (at least one), moving the cursor past them.

        `session` (or the one `session()` opens, called only then) is used only to read
        missed events, and is left without a transaction: given as a function, a
        subscription pushing live events opens none.
        """
        while True:
            if self.hub.closed:
                raise HubClosed
            if self._replaying:
                events = await self._replay(session() if callable(session) else session)
            else:
                events = await self._live()
            fresh = [event for event in events if event.sequence > self.cursor]
            if fresh:
                self.cursor = fresh[-1].sequence
                return fresh
            # all seen already (read from the log before they came live): let them go
            await self.finish_batch()

    async def _replay(self, session: AsyncSession) -> list[Event]:
        statement = (
            select(Event)
            .where(Event.sequence > self.cursor, self.interest.condition())
            .order_by(Event.sequence)
            .limit(READ_BATCH)
        )
        try:
            events = list((await session.scalars(statement)).all())
            # detached, the events outlive the transaction unexpired
            for event in events:
                session.expunge(event)
        finally:
            await session.rollback()
        # fewer than a batch: everything committed is read, and what commits from now on
        # reaches the queue, which was registered before this read began
        if len(events) < READ_BATCH:
            self._replaying = False
        return events

    async def _live(self) -> list[Event]:
        items = [await self._queue.get()]
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        if None in items:
            raise HubClosed
        events = [item[0] for item in items if item is not None]
        # the newest batch's reads serve all these events
        self.delivery = next(item[1] for item in reversed(items) if item is not None)
        self.delivery.hold()
        if self._behind:
            # the queue lost events: forget it and read from the table from the cursor on
            self._behind = False
            self._replaying = True
            self._drop_queue()
        return events


class Hub:
    """The process's listener and its subscriptions. `start` connects and LISTENs; `stop`
    ends every subscription and closes the connection."""

    def __init__(self, connect_args: dict[str, Any]) -> None:
        """`connect_args`: asyncpg.connect's keyword arguments for the database."""
        self._connect_args = connect_args
        self._subscriptions: set[Subscription] = set()
        self._last_read: int | None = None
        self._announced = 0
        self._wake = asyncio.Event()
        # attempts to connect that failed since the last connection that was listening
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self._membership = asyncio.Condition()
        self.closed = False
        # subscribers pushed to by one of them (scimeta.live.flock), by what they share
        self.flocks: dict[Hashable, Flock] = {}
        self.connected = asyncio.Event()
        self.reconnects = 0
        # called when API tokens may have been made or revoked (a notification on
        # TOKENS_CHANNEL, or a reconnect, after which one may have been missed)
        self.token_listeners: list[Callable[[], None]] = []
        # called when the listening connection is lost or could not be made
        self.lost_listeners: list[Callable[[], None]] = []
        # whether subscribers whose messages are the same share their execution (see
        # `scimeta.live.shared`); off, each executes every message itself
        self.share_messages = sharing_from_env()

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    @property
    def backend_pid(self) -> int | None:
        """The database process serving the listening connection (None while not
        connected)."""
        connection = self._connection
        return None if connection is None or connection.is_closed() else connection.get_server_pid()

    async def start(self) -> None:
        task = self._task = asyncio.create_task(self._run(), name="scimeta event listener")
        # serve only once listening, so that no commit after startup goes unheard; a
        # database that is down delays this until it is back (or startup is given up)
        waiting = asyncio.create_task(self.connected.wait())
        try:
            done, _ = await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if task in done:
            task.result()

    async def stop(self) -> None:
        self.closed = True
        close_all(self.flocks)
        for subscription in list(self._subscriptions):
            subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def subscribe(self, interest: Interest) -> AsyncIterator[Subscription]:
        """A subscription that gets every matching event committed from now on, until the
        block ends."""
        subscription = Subscription(self, interest)
        self._subscriptions.add(subscription)
        metrics.SUBSCRIPTIONS_OPEN.inc()
        await self._membership_changed()
        try:
            yield subscription
        finally:
            metrics.SUBSCRIPTIONS_OPEN.dec()
            self._subscriptions.discard(subscription)
            await subscription.finish_batch()
            await self._membership_changed()

    async def wait_for_subscriptions(self, count: int) -> None:
        """Return once exactly `count` subscriptions are open (to shut down after the
        last one ends, or for a test to know that a client's subscription is gone)."""
        async with self._membership:
            await self._membership.wait_for(lambda: len(self._subscriptions) == count)

    async def _membership_changed(self) -> None:
        async with self._membership:
            self._membership.notify_all()

    @property
    def retry_delay(self) -> float:
        """How long the listener waits before its next attempt to connect: nothing after
        losing a connection that was listening, then `RETRY_SECONDS` doubling up to
        `MAX_RETRY_SECONDS` for each attempt in a row that failed."""
        if self._failures == 0:
            return 0.0
        doublings = min(self._failures - 1, 16)
        return float(min(RETRY_SECONDS * 2**doublings, MAX_RETRY_SECONDS))

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except CONNECTION_ERRORS as exc:
                self._connection_failed(exc)
            # the listener must outlive anything that goes wrong, or every subscription of
            # the process falls silent: log it in full and start over
            except Exception:
                logger.exception("event listener failed; reconnecting")
            finally:
                self.connected.clear()
                # the database may have restarted: pooled connections are pinged again
                for listener in self.lost_listeners:
                    listener()
                metrics.LISTENER_CONNECTED.set(0)
                connection, self._connection = self._connection, None
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            self.reconnects += 1
            metrics.LISTENER_RECONNECTS.inc()
            delay = self.retry_delay
            self._failures += 1
            if delay > 0:
                # not synchronisation: the pause between attempts to reach the database
                await asyncio.sleep(delay)

    def _connection_failed(self, exc: BaseException) -> None:
        """One line for a lost or refused connection: the first of an outage is a warning,
        the attempts that fail while it lasts are not worth one each."""
        what = f"{type(exc).__name__}: {exc}".strip().rstrip(":").replace("\n", " ")
        if self._failures == 0:
            logger.warning("event listener: connection lost (%s); reconnecting", what)
        else:
            logger.debug(
                "event listener: attempt %d to reconnect failed (%s); next in %g s",
                self._failures,
                what,
                self.retry_delay,
            )

    async def _listen(self) -> None:
        server_settings = {
            **self._connect_args.get("server_settings", {}),
            "application_name": APPLICATION_NAME,
        }
        timeout = min(self._connect_args.get("timeout", MAX_CONNECT_SECONDS), MAX_CONNECT_SECONDS)
        connection = await asyncpg.connect(
            **{**self._connect_args, "server_settings": server_settings, "timeout": timeout}
        )
        self._connection = connection
        # a lost connection wakes the loop at once: it would otherwise notice only at its
        # next poll, with every subscription of the process silent meanwhile
        connection.add_termination_listener(self._on_terminated)
        async with asyncio.timeout(STATEMENT_SECONDS):
            await connection.add_listener(EVENTS_CHANNEL, self._on_notify)
            await connection.add_listener(TOKENS_CHANNEL, self._on_tokens_changed)
            self._on_tokens_changed()
            if self._last_read is None or not self._subscriptions:
                # nobody to hand older events to: start from the newest
                self._last_read = await self._newest(connection)
            else:
                # what committed while the connection was down is read now, not at the
                # next notification
                await self._read(connection)
        if self._failures:
            logger.info(
                "event listener: listening on %s again, after %d failed attempts",
                EVENTS_CHANNEL,
                self._failures - 1,
            )
        else:
            logger.info("event listener: listening on %s", EVENTS_CHANNEL)
        # caught up: the next loss is retried at once
        self._failures = 0
        self.connected.set()
        metrics.LISTENER_CONNECTED.set(1)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if connection.is_closed():
                raise ConnectionLost("the listening connection was closed")
            # raises TimeoutError, an OSError, on a connection that no longer answers
            async with asyncio.timeout(STATEMENT_SECONDS):
                await self._read(connection)

    def _on_terminated(self, connection: Any) -> None:
        # a connection given up earlier may report its end late: only the current one's
        # counts
        if connection is self._connection:
            self._wake.set()

    def _on_tokens_changed(self, *notification: Any) -> None:
        for listener in self.token_listeners:
            listener()

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._announced = max(self._announced, int(payload))
        if self._last_read is not None:
            metrics.LISTENER_LAG.set(max(self._announced - self._last_read, 0))
        self._wake.set()

    async def _newest(self, connection: asyncpg.Connection) -> int:
        newest: int = await connection.fetchval("SELECT coalesce(max(sequence), 0) FROM events")
        return newest

    async def _read(self, connection: asyncpg.Connection) -> None:
        assert self._last_read is not None
        if not self._subscriptions:
            # nothing to deliver: skip the read and remember how far the log reached
            # (or check the connection, on a poll with nothing announced)
            if self._announced > self._last_read:
                self._last_read = self._announced
            else:
                await connection.fetchval("SELECT 1")
            metrics.LISTENER_LAG.set(0)
            return
        while True:
            rows = await connection.fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE sequence > $1 "
                "ORDER BY sequence LIMIT $2",
                self._last_read,
                READ_BATCH,
            )
            if not rows:
                metrics.LISTENER_LAG.set(max(self._announced - self._last_read, 0))
                return
            self._dispatch(event_of(row) for row in rows)
            self._last_read = rows[-1]["sequence"]
            metrics.LISTENER_LAG.set(max(self._announced - self._last_read, 0))
            if len(rows) < READ_BATCH:
                return

    def _dispatch(self, events: Iterable[Event]) -> None:
        subscriptions = list(self._subscriptions)
        delivery = Delivery()
        for event in events:
            for subscription in subscriptions:
                if subscription.interest.wants(event):
                    subscription.offer(event, delivery)


def event_of(row: asyncpg.Record) -> Event:
    """A detached `Event` from a row the listener read."""
    payload = row["payload"]
    return Event(
        sequence=row["sequence"],
        at=row["at"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        level=None if row["level"] is None else EventLevel(row["level"]),
        type=row["type"],
        actor=row["actor"],
        payload=json.loads(payload) if isinstance(payload, str) else payload,
    )
