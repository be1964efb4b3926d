"""One transaction per write: the session, who is acting, row locks and events.

Every change that matters to an audit (a create, a delete, a status, phase or audit
change) is written as an `Event` in the transaction that makes the change, so the log
and the data never disagree.

The events of a transaction are inserted at its end, under one lock that every writing
transaction takes, and announced with NOTIFY. The lock is held until commit, so events
commit in the order of their sequence numbers: a reader that has seen sequence N has
seen every event before it, and "everything after N" is a complete answer. That is
what lets subscribers resume from a sequence number without gaps.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, String, Text, bindparam, func, inspect, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.relay import GlobalID

from scimeta.auth.policy import SERVER, Access, Action, authorize_changes
from scimeta.errors import Conflict, NotFound
from scimeta.models import Base, Entity, Event
from scimeta.writes.database_errors import client_error

# The channel every process LISTENs on. A notification's payload is the highest sequence
# number its transaction wrote: listeners read the events themselves from the table.
EVENTS_CHANNEL = "scimeta_events"
# The advisory lock that orders event commits (any fixed 64-bit number unique to the
# application: the first eight bytes of sha256("scimeta.events")).
EVENT_LOG_LOCK = 1619452680240236740

RowT = TypeVar("RowT", bound=Entity)

# Columns a snapshot leaves out: large documents that an event need not repeat.
_SNAPSHOT_SKIPS = frozenset(
    {"attributes", "init_atoms", "frames", "data", "spec", "values", "error"}
)


class Writer:
    """The handle a write function gets: its session inside an open transaction."""

    def __init__(
        self,
        session: AsyncSession,
        actor: str,
        access: Access | None = None,
        action: Action = Action.WRITE,
    ) -> None:
        """`access`: the caller's grants, which must allow `action` on every row the
        write changes (None: a trusted caller, such as the command line or the sweeper)."""
        self.session = session
        self.actor = actor
        self.access = access
        self.action = action
        self._now: datetime | None = None
        self._events: list[Event] = []
        self._authorized: set[tuple[str, int]] = set()

    async def now(self) -> datetime:
        """The transaction's timestamp, the same `now()` the database gives `createdAt`:
        one clock for every process that writes."""
        if self._now is None:
            self._now = (await self.session.execute(select(func.now()))).scalar_one()
        return self._now

    async def get(self, model: type[RowT], row_id: int) -> RowT:
        row = await self.session.get(model, row_id)
        if row is None:
            raise not_found(model, row_id)
        return row

    async def lock(self, model: type[RowT], row_id: int) -> RowT:
        """The row, re-read and locked until the transaction ends, so that a concurrent
        writer of the same row waits and then sees this transaction's result. The caller
        must be allowed the write's action on it.

        FOR NO KEY UPDATE does not block inserts of rows that reference this one.
        """
        statement = (
            select(model)
            .where(model.id == row_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(statement)).scalar_one_or_none()
        if row is None:
            raise not_found(model, row_id)
        # a row locked is a row to change: checked now, also if nothing changes after all
        await self.authorize([(type_name(row), row.id)])
        return row

    async def create(self, row: RowT, **payload: Any) -> RowT:
        """Insert `row` and record a `created` event about it."""
        self.session.add(row)
        await self.session.flush()
        self.event(row, "created", {**snapshot(row), **payload})
        return row

    def event(
        self,
        subject: Entity,
        type: str,
        payload: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Event:
        """Add an event about `subject` (already flushed, so it has an id). It is written
        when the transaction ends; its `sequence` is known from then."""
        return self.record(
            Event(
                subject_type=type_name(subject),
                subject_id=subject.id,
                type=type,
                actor=actor or self.actor,
                payload=payload or {},
            )
        )

    def record(self, event: Event) -> Event:
        """Add a prepared event, written when the transaction ends."""
        self._events.append(event)
        return event

    async def flush(self) -> None:
        await self.session.flush()

    async def authorize(self, subjects: Iterable[tuple[str, int]]) -> None:
        """Refuse (FORBIDDEN) unless the caller may make this write's change to each
        (type name, id). Every subject of the write's events is checked when they are
        published; a row about to be deleted is checked here first, while its scope can
        still be looked up."""
        wanted = set(subjects) - self._authorized
        if self.access is None or not wanted:
            return
        if not self.access.may(self.action, SERVER):
            await authorize_changes(self.session, self.access, self.action, wanted)
        self._authorized |= wanted

    def authorize_server(self, what: str) -> None:
        """Refuse unless the caller may make this write's change on the whole server (what
        it makes belongs to no project or study): checked before anything is read."""
        if self.access is not None:
            self.access.require(self.action, SERVER, what)

    @property
    def names_actors(self) -> bool:
        """Whether events may name another actor than the caller: only the command line
        and the local user of a server running open may (a token's events are its own)."""
        return self.access is None or self.access.identity.token_id is None

    def trust(self, subject: tuple[str, int]) -> None:
        """Take the change to `subject` as checked (by its caller, on scopes that the
        subject's own does not tell, such as an API token's grants)."""
        self._authorized.add(subject)

    def studies_allowed(self) -> list[int] | None:
        """The studies in which the caller may make this write's change (None: all)."""
        return None if self.access is None else self.access.studies_for(self.action)

    async def publish(self) -> None:
        """Insert the transaction's events in order and announce them.

        The lock waits for every other transaction that is publishing to commit, so the
        sequence numbers taken here are above every committed one, and no transaction
        commits a lower number later. It is taken last, after the transaction's other
        writes and row locks, and in the one statement that inserts the events and
        notifies, so that it is held only for that statement and the commit: every
        writing transaction passes through it one at a time.
        """
        events, self._events = self._events, []
        if not events:
            return
        subjects = [(event.subject_type, event.subject_id) for event in events]
        if any(type_ is None or id_ is None for type_, id_ in subjects):
            # a service event is about the server itself
            self.authorize_server("service events (events about no node)")
        await self.authorize(
            (type_, id_) for type_, id_ in subjects if type_ is not None and id_ is not None
        )
        rows = await self.session.execute(
            _PUBLISH,
            {
                "lock": EVENT_LOG_LOCK,
                "channel": EVENTS_CHANNEL,
                "subject_types": [event.subject_type for event in events],
                "subject_ids": [event.subject_id for event in events],
                "levels": [None if event.level is None else event.level.value for event in events],
                "types": [event.type for event in events],
                "actors": [event.actor for event in events],
                "payloads": [json.dumps(event.payload or {}) for event in events],
            },
        )
        # inserted in the order given, so the sorted sequence numbers are theirs in order
        for event, (sequence, at) in zip(events, rows.all(), strict=True):
            event.sequence = sequence
            event.at = at
            event.payload = event.payload or {}


# The lock is a one-row relation the inserted rows are joined with, so it is taken before
# the first sequence number is; the notification carries the newest sequence number.
_PUBLISH = text(
    """
    WITH inserted AS (
        INSERT INTO events (subject_type, subject_id, level, type, actor, payload)
        SELECT e.subject_type, e.subject_id, e.level, e.type, e.actor, e.payload::jsonb
        FROM (SELECT pg_advisory_xact_lock(:lock)) AS locked,
             unnest(:subject_types, :subject_ids, :levels, :types, :actors, :payloads)
                 WITH ORDINALITY AS e(subject_type, subject_id, level, type, actor, payload, n)
        ORDER BY e.n
        RETURNING sequence, at
    ),
    notified AS (SELECT pg_notify(:channel, max(sequence)::text) FROM inserted)
    SELECT inserted.sequence, inserted.at FROM inserted, notified ORDER BY inserted.sequence
    """
).bindparams(
    bindparam("lock", type_=BigInteger),
    bindparam("channel", type_=String),
    bindparam("subject_types", type_=ARRAY(String)),
    bindparam("subject_ids", type_=ARRAY(BigInteger)),
    bindparam("levels", type_=ARRAY(String)),
    bindparam("types", type_=ARRAY(String)),
    bindparam("actors", type_=ARRAY(String)),
    bindparam("payloads", type_=ARRAY(Text)),
)


@asynccontextmanager
async def transaction(
    session: AsyncSession,
    actor: str,
    access: Access | None = None,
    action: Action = Action.WRITE,
) -> AsyncIterator[Writer]:
    """Run one write: commit if the block finishes, roll back if it raises. A database
    error caused by the input becomes a client error with a code. With `access`, the
    caller must be allowed `action` on every row changed."""
    try:
        async with session.begin():
            writer = Writer(session, actor, access, action)
            yield writer
            await session.flush()
            await writer.publish()
    except DBAPIError as exc:
        error = client_error(exc)
        if error is None:
            raise
        raise error from exc


def check_version(row: Entity, expected: int | None) -> None:
    """Refuse to change `row` if the client read it at another version."""
    if expected is not None and row.version != expected:
        raise Conflict(
            f"{type_name(row)} {global_id(row)} changed since you read it: it is at version "
            f"{row.version}, you passed {expected}. Read it again and retry.",
            reason="STALE_VERSION",
            version=row.version,
        )


def type_name(row: Base) -> str:
    """The GraphQL type name of a row: the ORM classes are named like their types."""
    return type(row).__name__


def global_id(row: Entity) -> str:
    return global_id_of(type_name(row), row.id)


def global_id_of(type_name: str, row_id: int) -> str:
    """The global id clients know a row by, for messages."""
    return str(GlobalID(type_name, str(row_id)))


def not_found(model: type[Entity], row_id: int) -> NotFound:
    return NotFound(
        f"No {model.__name__} has the id {global_id_of(model.__name__, row_id)}; "
        "it may have been deleted."
    )


def snapshot(row: Base) -> dict[str, Any]:
    """The row's set scalar columns as JSON values, for an event's payload."""
    values: dict[str, Any] = {}
    for attribute in inspect(row).mapper.column_attrs:
        name = attribute.key
        if name in _SNAPSHOT_SKIPS or name in {"created_at", "updated_at", "version"}:
            continue
        value = getattr(row, name)
        if value is not None:
            values[name] = json_value(value)
    return values


def json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [json_value(item) for item in value]
    return value
