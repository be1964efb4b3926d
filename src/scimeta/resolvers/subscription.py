"""The root subscription: live changes to runs, chunk attempts and jobs, and new events.

Every message names the event that caused it, with its sequence number, and the changed
node as it is when the message is sent, read through the same loaders as a query, so a
client selects nested fields as in a query. A client that passes the last sequence it
saw as `afterSequence` first gets what it missed, in order, then live changes; none is
sent twice and none is skipped (see `scimeta.live.hub`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from typing import Annotated, Any, TypeAlias, TypeVar, cast

import strawberry
from sqlalchemy import func, select
from strawberry import relay
from strawberry.types import Info

from scimeta import models
from scimeta.errors import BadUserInput, ClientError
from scimeta.live.flock import Flock, Member, Offer, Outcome, flock_of
from scimeta.live.hub import HubClosed, Interest
from scimeta.live.hub import Subscription as HubSubscription
from scimeta.live.shared import (
    Leader,
    Route,
    Shared,
    current_route,
    done_with,
    expect,
    message_key,
)
from scimeta.models import ownership
from scimeta.operation import Context
from scimeta.planner.execute import access_key
from scimeta.resolvers.mutations.base import optional_row_id
from scimeta.resolvers.mutations.core import node_of
from scimeta.schema.core import Event
from scimeta.schema.inputs import runs as run_inputs
from scimeta.schema.jobs import Job
from scimeta.schema.runs import Chunk, Run
from scimeta.schema.scalars import Long
from scimeta.strawberry_internals import resolve_info

RowT = TypeVar("RowT", bound=models.Entity)
SubscriptionInfo: TypeAlias = Info[Context, Any]
# Which of a batch of events to deliver, each with its subject's row (None if deleted).
Admit: TypeAlias = Callable[
    [Context, Sequence[models.Event]], Awaitable[list[tuple[models.Event, Any]]]
]

MAX_TYPES = 64

SEQUENCE_DESCRIPTION = (
    "The event's position in the log. Pass the last one you received as `afterSequence` "
    "to resume after it without gaps."
)


class SubscriptionsUnavailable(ClientError):
    code = "SUBSCRIPTIONS_UNAVAILABLE"


@strawberry.type(description="A change to a run: the event, and the run as it is now.")
class RunChange:
    sequence: Long = strawberry.field(description=SEQUENCE_DESCRIPTION)
    event: Event = strawberry.field(description="What happened.")
    run: Run | None = strawberry.field(description="The run, or null if it was deleted.")


@strawberry.type(description="A change to a chunk attempt: the event, and the attempt now.")
class ChunkChange:
    sequence: Long = strawberry.field(description=SEQUENCE_DESCRIPTION)
    event: Event = strawberry.field(description="What happened.")
    chunk: Chunk | None = strawberry.field(description="The attempt, or null if deleted.")


@strawberry.type(description="A change to a job: the event, and the job as it is now.")
class JobChange:
    sequence: Long = strawberry.field(description=SEQUENCE_DESCRIPTION)
    event: Event = strawberry.field(description="What happened.")
    job: Job | None = strawberry.field(description="The job, or null if it was deleted.")


TYPES_DESCRIPTION = (
    "Only events of these types (e.g. status_changed, phase_changed, claimed, "
    "audit_status_changed); all if not given."
)
AFTER_DESCRIPTION = (
    "First send the events after this sequence number that are already in the log, "
    "then live ones. Without it, only changes from now on."
)
Types = Annotated[list[str] | None, strawberry.argument(description=TYPES_DESCRIPTION)]
AfterSequence = Annotated[Long | None, strawberry.argument(description=AFTER_DESCRIPTION)]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Changes to runs: status and phase changes, claims, lease renewals and "
        "expiries, releases, creation and deletion. Of one run (`id`), of the runs matching "
        "`where` (tested against the run as it is when the change is sent), or of all runs."
    )
    async def run_changed(
        self,
        info: SubscriptionInfo,
        id: relay.GlobalID | None = None,
        where: run_inputs.RunWhere | None = None,
        types: Types = None,
        after_sequence: AfterSequence = None,
    ) -> AsyncGenerator[RunChange, None]:
        run_id = optional_row_id(id, models.Run, "id")

        async def admit(
            context: Context, events: Sequence[models.Event]
        ) -> list[tuple[models.Event, Any]]:
            rows = await _rows(context, models.Run, events)
            if where is None:
                return list(zip(events, rows, strict=True))
            ids = {row.id for row in rows if row is not None}
            condition = where.condition()
            async with context.db_lock:
                matching = set(
                    await context.session.scalars(
                        select(models.Run.id).where(models.Run.id.in_(ids), condition)
                    )
                )
            return [
                (event, row)
                for event, row in zip(events, rows, strict=True)
                if row is not None and row.id in matching
            ]

        interest = _interest("Run", types, run_id)
        async with aclosing(_changes(info, interest, after_sequence, admit)) as changes:
            async for event, row in changes:
                yield RunChange(sequence=Long(event.sequence), event=event, run=row)  # type: ignore[arg-type]

    @strawberry.subscription(
        description="Changes to chunk attempts (new attempts, audit results) of a run or "
        'of a trajectory. For audit results alone pass types: ["audit_status_changed"].'
    )
    async def chunk_changed(
        self,
        info: SubscriptionInfo,
        run_id: relay.GlobalID | None = None,
        trajectory_id: relay.GlobalID | None = None,
        types: Types = None,
        after_sequence: AfterSequence = None,
    ) -> AsyncGenerator[ChunkChange, None]:
        run = optional_row_id(run_id, models.Run, "runId")
        trajectory = optional_row_id(trajectory_id, models.Trajectory, "trajectoryId")
        if run is None and trajectory is None:
            raise BadUserInput("Pass runId or trajectoryId: the chunks of which to follow.")
        admit = _admit_by_parent(models.Chunk, {"run": run, "trajectory": trajectory})
        interest = _interest("Chunk", types, None)
        async with aclosing(_changes(info, interest, after_sequence, admit)) as changes:
            async for event, row in changes:
                yield ChunkChange(sequence=Long(event.sequence), event=event, chunk=row)  # type: ignore[arg-type]

    @strawberry.subscription(description="Changes to the jobs of a project, at any depth.")
    async def job_changed(
        self,
        info: SubscriptionInfo,
        project_id: relay.GlobalID,
        types: Types = None,
        after_sequence: AfterSequence = None,
    ) -> AsyncGenerator[JobChange, None]:
        project = optional_row_id(project_id, models.Project, "projectId")
        admit = _admit_by_parent(models.Job, {"project": project})
        interest = _interest("Job", types, None)
        async with aclosing(_changes(info, interest, after_sequence, admit)) as changes:
            async for event, row in changes:
                yield JobChange(sequence=Long(event.sequence), event=event, job=row)  # type: ignore[arg-type]

    @strawberry.subscription(
        description="New events: about one node (`subjectId`), about nodes of a type "
        "(`subjectType`, e.g. Run), of some types, or all."
    )
    async def event_added(
        self,
        info: SubscriptionInfo,
        subject_id: relay.GlobalID | None = None,
        subject_type: str | None = None,
        types: Types = None,
        after_sequence: AfterSequence = None,
    ) -> AsyncGenerator[Event, None]:
        subject_types = None if subject_type is None else frozenset({subject_type})
        subject_ids = None
        if subject_id is not None:
            model, row = node_of(subject_id, "subjectId")
            if subject_type is not None and subject_type != model.__name__:
                raise BadUserInput(
                    f"subjectId is a {model.__name__}, but subjectType is {subject_type}.",
                    field="subjectType",
                )
            subject_types = frozenset({model.__name__})
            subject_ids = frozenset({row})
        interest = Interest(subject_types, _types(types), subject_ids)

        async def admit(
            context: Context, events: Sequence[models.Event]
        ) -> list[tuple[models.Event, Any]]:
            return [(event, event) for event in events]

        # closed with this generator, in this task: it leaves the scope it entered
        async with aclosing(_changes(info, interest, after_sequence, admit)) as changes:
            async for event, _ in changes:
                yield event  # type: ignore[misc]


async def _changes(
    info: SubscriptionInfo, interest: Interest, after_sequence: int | None, admit: Admit
) -> AsyncGenerator[tuple[models.Event, Any], None]:
    """The events of `interest` after `after_sequence` (or from now), with their rows.

    The operation's session is closed while waiting, so an idle subscription holds no
    database connection, and the loaders are renewed for each batch of events, so every
    message shows the rows as they are when it is sent. Live events are read through a
    scope shared with the other subscriptions of the process that push the same batch,
    and subscriptions whose events and messages are all the same form a flock, whose
    leader pushes for all (`scimeta.live.flock`).
    """
    context = info.context
    hub = context.hub
    if hub is None:
        raise SubscriptionsUnavailable(
            "This server was started without its event listener; subscriptions are off."
        )
    if after_sequence is not None and after_sequence < 0:
        raise BadUserInput("afterSequence must be 0 or more.", field="afterSequence")
    # what, besides the event and its rows, decides this subscription's messages (each
    # message is built from the event and its row alone: the root field's arguments only
    # choose the events)
    raw = resolve_info(info)
    # (graphql-core's resolve info holds the coerced values in `coerced`, or as they are)
    values: Any = raw.variable_values
    variables: Mapping[str, Any] = getattr(values, "coerced", values)
    messages = message_key(raw.operation, raw.fragments, variables)
    # what decides which events it pushes besides its visibility: all its variables
    arguments = message_key(raw.operation, raw.fragments, variables, every_variable=True)
    # the flock this subscription leads, if it leads one, and the events it is pushing
    flock: Flock | None = None
    batch: list[models.Event] = []
    async with hub.subscribe(interest) as subscription:
        newest = await _newest_sequence(context)
        if after_sequence is None or after_sequence > newest:
            # beyond the newest event nothing was missed: live from now, for every caller,
            # so that no answer tells how long the log (with others' events) is
            subscription.start_live(newest)
        else:
            subscription.start_after(after_sequence)
        try:
            while True:
                await subscription.finish_batch()
                await context.between_batches()
                if flock is not None:
                    flock.passed(subscription.cursor)
                route = current_route()
                if (
                    flock is None
                    and hub.share_messages
                    and arguments is not None
                    and messages is not None
                    and route is not None
                    and route.writer is not None
                    and subscription.live
                    and not hub.closed
                ):
                    # pushing the same events and messages as others: one of them pushes
                    # for all
                    visibility = access_key(context.identity.access)
                    joined = flock_of(hub.flocks, (arguments, messages, visibility))
                    if joined.lead(subscription, route):
                        flock = joined
                    else:
                        member = Member(subscription, route, partial(_visibility_now, context))
                        outcome = await joined.wait(member)
                        if outcome is Outcome.LEAD:
                            flock = joined
                        elif outcome is Outcome.RESUME:
                            # what it missed is read from the log
                            subscription.start_after(subscription.cursor)
                        elif outcome is Outcome.REFUSED:
                            await context.refuse()
                            return
                        else:
                            return
                        continue
                batch = []
                try:
                    # a session only to read missed events from the log
                    events = await subscription.next_events(lambda: context.session)
                except HubClosed:
                    return
                batch = events
                if not await context.still_allowed():
                    await context.refuse()
                    return
                delivery = subscription.delivery
                visibility = access_key(context.identity.access)
                if flock is not None:
                    if delivery is None:
                        # events read from the log (it fell behind): the members push for
                        # themselves
                        flock.leave(subscription, None)
                        flock = None
                    elif flock.key != (arguments, messages, visibility) or not _keeps_up(route):
                        # another visibility now, or a client that reads too slowly to
                        # push for others: another leads, from this batch on
                        flock.leave(subscription, _backlog(subscription, events))
                        flock = None
                    else:
                        await flock.check(visibility)
                sharing = delivery is not None and hub.share_messages
                with context.batch_scope(delivery, visibility):

                    async def admitted(batch: list[models.Event] = events) -> list[Any]:
                        return await admit(context, await _visible(context, batch))

                    if not sharing or delivery is None or arguments is None:
                        pushed = await admitted()
                    else:
                        # subscriptions with the same arguments and visibility push the
                        # same events of a batch: the first works out which, the others
                        # reuse it
                        key = ("admitted", arguments, visibility, *(e.sequence for e in events))
                        pushed = await cast(Shared, delivery.shared(key, Shared)).get(admitted)
                    for event, row in pushed:
                        if not sharing or delivery is None or messages is None:
                            yield event, row
                            continue
                        # subscribers whose messages are the same execute each one once
                        leader = cast(
                            Leader,
                            delivery.shared(
                                ("message", messages, visibility, event.sequence),
                                partial(Leader, event.sequence),
                            ),
                        )
                        route = current_route()
                        if route is not None:
                            data = await leader.shared_data()
                            if data is not None:
                                # executed by another: sent as it is, in order, by this task
                                # as strawberry would send it
                                if not await route.send(data):
                                    return
                                if flock is not None:
                                    flock.push(event.sequence, data)
                                continue
                        pending = expect(leader)
                        try:
                            yield event, row
                        finally:
                            done_with(pending)
                        if flock is not None:
                            done = leader.done
                            flock.push(event.sequence, done.result() if done.done() else None)
        finally:
            if flock is not None:
                flock.leave(subscription, _backlog(subscription, batch))


def _keeps_up(route: Route | None) -> bool:
    return route is not None and route.writer is not None and route.writer.writable


def _backlog(subscription: HubSubscription, batch: list[models.Event]) -> list[Offer] | None:
    """What a flock's leader leaves its heir: the events of its batch (the heir skips
    those it has) and those waiting in its queue; None if it lost some."""
    waiting = subscription.backlog()
    if waiting is None:
        return None
    delivery = subscription.delivery
    if delivery is None:
        # no batch in hand (one read from the log has none)
        return None if batch else waiting
    return [(event, delivery) for event in batch] + waiting


async def _visibility_now(context: Context) -> Hashable | None:
    """A flock member's visibility before a batch; None if its token no longer works."""
    if not await context.still_allowed():
        return None
    return access_key(context.identity.access)


async def _visible(context: Context, events: list[models.Event]) -> list[models.Event]:
    """The events the caller may see: those about rows it may see (the hub hands every
    event to every subscription that asked for its kind)."""
    if context.identity.access.reads_all or not events:
        return events
    seen = await context.loaders.by_id(models.Event).load_many([e.sequence for e in events])
    return [event for event, row in zip(events, seen, strict=True) if row is not None]


async def _newest_sequence(context: Context) -> int:
    async with context.db_lock:
        # of the whole log, on the table: no caller's conditions, so one index lookup
        events = models.Event.__table__
        newest = await context.session.scalar(select(func.coalesce(func.max(events.c.sequence), 0)))
        await context.session.commit()
    return int(newest or 0)


async def _rows(
    context: Context, model: type[RowT], events: Sequence[models.Event]
) -> list[RowT | None]:
    # these subscriptions ask only for events about rows of `model`: each has a subject
    ids = [cast(int, event.subject_id) for event in events]
    return list(await context.loaders.by_id(model).load_many(ids))


def _admit_by_parent(model: type[models.Entity], parents: dict[str, int | None]) -> Admit:
    """Admit events about rows related to the given rows, by the name of the declared
    relation to each (`scimeta.models.ownership`; those given as None are not tested). A
    deleted row is tested by the snapshot its `deleted` event carries."""
    wanted = {
        ownership.relation(model, name).local.key: value
        for name, value in parents.items()
        if value is not None
    }

    async def admit(
        context: Context, events: Sequence[models.Event]
    ) -> list[tuple[models.Event, Any]]:
        rows = await _rows(context, model, events)
        admitted = []
        for event, row in zip(events, rows, strict=True):
            values = event.payload if row is None else {c: getattr(row, c) for c in wanted}
            if all(values.get(column) == value for column, value in wanted.items()):
                admitted.append((event, row))
        return admitted

    return admit


def _interest(subject_type: str, types: list[str] | None, subject_id: int | None) -> Interest:
    return Interest(
        subject_types=frozenset({subject_type}),
        types=_types(types),
        subject_ids=None if subject_id is None else frozenset({subject_id}),
    )


def _types(types: list[str] | None) -> frozenset[str] | None:
    if types is None:
        return None
    if not types or len(types) > MAX_TYPES:
        raise BadUserInput(f"types must list 1 to {MAX_TYPES} event types.", field="types")
    return frozenset(types)
