"""Leased claims of queued runs (seed 004 `claim_next_run` and `release_run`).

A worker claims the oldest claimable run and holds it under a lease: a random token that
only the worker sees, and an expiry it must keep pushing out while it works. The token,
not the worker's name, proves the claim, so a worker that stalled past its expiry cannot
act on a run that was given to another worker meanwhile: its token no longer matches.

A lease that expired is taken back either by the next claim that reaches the run or by
`expire_leases`, whichever comes first; both write a `lease_expired` event.

A claim may also take a FAILED or CANCELLED run, to retry it: the run goes FAILED ->
PENDING -> RUNNING in the same step, with the events `setRunStatus` would write for each.

Each write exists twice. The steps (`ONE_STATEMENT = False`) are the reference: the ORM
locks the run, changes it, and `Writer.publish` writes the events, one statement after
another inside a transaction. The default sends each claim and renewal as one statement
in its own implicit transaction: it locks, changes the run, inserts the events and
notifies, taking the event log's lock in that statement. A claim then holds the event
log's lock only while PostgreSQL finishes the statement and commits, never while the
server's Python gets round to sending COMMIT, and that lock is what every writer of the
database waits for. Both write the same rows and events; the tests run against both.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Interval,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from scimeta import metrics, models
from scimeta.auth.policy import Action, Forbidden
from scimeta.errors import BadUserInput, Conflict
from scimeta.loaders.batch import key_in
from scimeta.models import RunPhase, Status
from scimeta.writes.core import MetricValue, record_metrics
from scimeta.writes.lifecycle import set_phase, set_status
from scimeta.writes.runs import NAME_LENGTH, checked_text, clear_lease, move_run_status
from scimeta.writes.transaction import (
    EVENT_LOG_LOCK,
    EVENTS_CHANNEL,
    Writer,
    global_id_of,
    json_value,
)

MAX_LEASE_SECONDS = 86_400
RELEASE_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.PENDING)
# What a claim takes unless told otherwise: queued runs, and running ones whose lease
# expired. FAILED and CANCELLED runs are taken only when asked for, as retries.
DEFAULT_CLAIM_STATUSES = (Status.PENDING, Status.RUNNING)
CLAIMABLE_STATUSES = frozenset({Status.PENDING, Status.RUNNING, Status.FAILED, Status.CANCELLED})
RETRIED_STATUSES = (Status.FAILED, Status.CANCELLED)

# Whether claims and renewals are sent as one statement each (the default) or as the
# reference's steps; `SCIMETA_CLAIMS_IN_STEPS=1` selects the steps in a server, to
# measure one against the other.
ONE_STATEMENT = os.environ.get("SCIMETA_CLAIMS_IN_STEPS", "") not in {"1", "true", "yes"}

Run = models.Run

# Rendered into the SQL rather than bound, so that the planner can match the partial
# index of queued runs even in a prepared statement's generic plan.
_PENDING = bindparam("pending", Status.PENDING, type_=Run.status.type, literal_execute=True)
# Bounds of the first lookup's row comparison, which any run is below.
_NEVER = literal_column("'infinity'::timestamptz", Run.created_at.type)
_NO_ID = literal_column("9223372036854775807", BigInteger)
_JSON_NULL = literal_column("'null'::jsonb", JSONB)
_RUNNING = bindparam("running", Status.RUNNING, type_=Run.status.type, literal_execute=True)


def lease_duration(seconds: int) -> timedelta:
    if not 1 <= seconds <= MAX_LEASE_SECONDS:
        raise BadUserInput(
            f"leaseSeconds is {seconds}; a lease lasts 1 to {MAX_LEASE_SECONDS} seconds "
            "(renew it to keep a run longer).",
            field="leaseSeconds",
        )
    return timedelta(seconds=seconds)


def lease_token(text: str) -> uuid.UUID:
    """The token a claim returned; anything else is a client's mistake, not a stale lease."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadUserInput(
            f"lease {text!r} is not a lease token: pass the token claimRun returned.",
            field="lease",
        ) from None


def claim_statuses(statuses: Iterable[Status] | None) -> frozenset[Status]:
    """The statuses a claim may take runs in: RUNNING stands for a run whose lease
    expired, FAILED and CANCELLED for a retry. None: the default, PENDING and RUNNING."""
    if statuses is None:
        return frozenset(DEFAULT_CLAIM_STATUSES)
    chosen = frozenset(statuses)
    if not chosen or not chosen <= CLAIMABLE_STATUSES:
        given = ", ".join(sorted(s.value for s in chosen)) or "none"
        raise BadUserInput(
            f"statuses is {given}; a claim takes runs that are PENDING, RUNNING (with an "
            "expired lease), FAILED or CANCELLED (retried): pass at least one of them, or "
            "leave statuses out for PENDING and RUNNING.",
            field="statuses",
        )
    return chosen


async def claim_run(
    writer: Writer,
    *,
    worker: str,
    lease_seconds: int,
    condition: ColumnElement[bool] | None = None,
    statuses: Iterable[Status] | None = None,
) -> models.Run | None:
    """Lease the oldest claimable run that matches `condition` and is in one of
    `statuses` to `worker`; None if there is none. Concurrent claimers skip each other's
    rows instead of waiting, so each gets a different run."""
    checked_text(worker, "worker", NAME_LENGTH)
    duration = lease_duration(lease_seconds)
    sources = claim_statuses(statuses)
    studies = writer.studies_allowed()
    if studies == [] and writer.access is not None:
        raise Forbidden(
            "You may not claim runs: that needs runner, contributor or admin on a study or "
            f"on everything, and your token ({writer.access.identity.name}) has no such "
            "grant.",
            action=Action.RUN.name,
        )
    if studies is not None:
        # only runs the caller may work on: a viewer elsewhere must not block the queue
        allowed = key_in(Run.study_id, studies)
        condition = allowed if condition is None else and_(condition, allowed)
    if ONE_STATEMENT:
        run = await _claim_in_one_statement(writer, worker, duration, condition, sources)
    else:
        run = await _claim_in_steps(writer, worker, duration, condition, sources)
    metrics.CLAIMS.labels("empty" if run is None else "claimed").inc()
    return run


async def _claim_in_steps(
    writer: Writer,
    worker: str,
    duration: timedelta,
    condition: ColumnElement[bool] | None,
    sources: frozenset[Status],
) -> models.Run | None:
    """The reference: lock the run, change it through the ORM, and leave the events to
    `Writer.publish`."""
    now = await writer.now()
    run = await _oldest_claimable(writer, condition, now, sources)
    if run is None:
        return None
    if run.status == Status.RUNNING:
        _take_back(writer, run)
    elif run.status in RETRIED_STATUSES:
        await move_run_status(writer, run, Status.PENDING)
    run.claimed_by = worker
    run.lease_token = uuid.uuid4()
    run.lease_expires_at = now + duration
    run.attempt += 1
    await set_status(writer, run, Status.RUNNING, finished_attribute="ended_at")
    writer.event(
        run,
        "claimed",
        {
            "worker": worker,
            "attempt": run.attempt,
            "leaseExpiresAt": json_value(run.lease_expires_at),
        },
    )
    return run


def _claimable(status: Status, now: ColumnElement[datetime]) -> ColumnElement[bool]:
    """The runs in `status` a claim may take. Each status is its own index-ordered
    lookup, as no index orders one query with an OR: queued runs by
    ix_runs_pending_created_at_id, expired leases by ix_runs_lease_expires_at (few: the
    sweeper takes them back), failed and cancelled runs by ix_runs_status_created_at."""
    if status == Status.PENDING:
        return and_(Run.status == _PENDING, Run.lease_token.is_(None))
    if status == Status.RUNNING:
        return and_(Run.status == _RUNNING, Run.lease_expires_at < now)
    return Run.status == bindparam(
        f"claimable_{status.value.lower()}", status, type_=Run.status.type, literal_execute=True
    )


# The order the lookups run in: the small sets first, so that the queue, the largest,
# is searched only for runs older than what they found.
_LOOKUP_ORDER = (Status.RUNNING, Status.FAILED, Status.CANCELLED, Status.PENDING)


async def _oldest_claimable(
    writer: Writer,
    condition: ColumnElement[bool] | None,
    now: datetime,
    sources: frozenset[Status],
) -> models.Run | None:
    """One index-ordered lookup per status, each for a run older than the ones before it
    found; each locks at most one row. A run found and then beaten by an older one stays
    locked, unused, until this transaction ends; other claimers skip it meanwhile and
    take the next."""
    candidates = (
        select(Run)
        .where(condition if condition is not None else true())
        .order_by(Run.created_at, Run.id)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    oldest: models.Run | None = None
    for status in _LOOKUP_ORDER:
        if status not in sources:
            continue
        lookup = candidates.where(_claimable(status, literal(now)))
        if oldest is not None:
            lookup = lookup.where(
                tuple_(Run.created_at, Run.id) < tuple_(oldest.created_at, oldest.id)
            )
        oldest = await _first(writer, lookup) or oldest
    return oldest


async def _first(writer: Writer, statement: Select[models.Run]) -> models.Run | None:
    return (await writer.session.scalars(statement)).one_or_none()


async def _claim_in_one_statement(
    writer: Writer,
    worker: str,
    duration: timedelta,
    condition: ColumnElement[bool] | None,
    sources: frozenset[Status],
) -> models.Run | None:
    """The claim as one statement in an implicit transaction of its own (see the module
    docstring): the same lookups, the same change and the same events as the steps."""
    await _outside_a_transaction(writer)
    statement = (
        _common_claim_statement(sources)
        if condition is None
        else _claim_statement(condition, sources)
    )
    values = {
        "worker": worker,
        "worker_name": worker,
        "token": uuid.uuid4(),
        "duration": duration,
        "actor": writer.actor,
    }
    run: models.Run | None = (await writer.session.scalars(statement, values)).one_or_none()
    return run


@functools.lru_cache(maxsize=16)
def _common_claim_statement(sources: frozenset[Status]) -> Select[models.Run]:
    """The statement of a claim without conditions (the usual worker's, with access to
    every study), built once: building it costs more CPU than the server spends on the
    rest of the request."""
    return _claim_statement(None, sources)


async def _outside_a_transaction(writer: Writer) -> None:
    """Send this write's statement without BEGIN and COMMIT: PostgreSQL runs it as a
    transaction of its own and commits it before it answers. It must be the write's
    first and only statement (the session's connection is taken for it here). A session
    joined to a transaction its owner began (bound to a connection in one) runs the
    statement in that transaction instead, which commits when its owner commits."""
    bind = writer.session.bind
    if isinstance(bind, AsyncConnection) and bind.in_transaction():
        return
    await writer.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _iso_timestamp(moment: ColumnElement[datetime]) -> ColumnElement[str]:
    """`moment` as `json_value` writes a datetime the database returned (Python's
    isoformat of the UTC time, whole seconds without a fraction), so that the events of
    both paths say the same and match the API's DateTime."""
    utc = func.timezone("UTC", moment)
    fraction = case(
        (func.date_trunc("second", utc) == utc, ""),
        else_=func.to_char(utc, ".US"),
    )
    return func.concat(func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS'), fraction, "+00:00")


def _claim_statement(
    condition: ColumnElement[bool] | None, sources: frozenset[Status]
) -> Select[models.Run]:
    """WITH the lookups (one per status, each locking at most one run with SKIP LOCKED),
    the oldest of them picked, the run updated, the event log's lock taken (only if a run
    was claimed), its events inserted in order, and one NOTIFY with the newest sequence:
    the claimed run, or no row.

    The lock is taken in a CTE that reads the updated run, and the events are inserted
    from a join with it, so their sequence numbers are drawn under the lock, as in
    `Writer.publish`."""
    now = func.now()
    where = condition if condition is not None else true()
    lookups: list[Any] = []
    for status in _LOOKUP_ORDER:
        if status not in sources:
            continue
        lookup = select(
            Run.id, Run.created_at, Run.status, Run.claimed_by, Run.lease_expires_at, Run.attempt
        ).where(where, _claimable(status, now))
        if lookups:
            # as in the steps, only runs older than the ones found before: the newest
            # found is the oldest so far, and none at all bounds nothing
            lookup = lookup.where(
                tuple_(Run.created_at, Run.id)
                < tuple_(
                    func.coalesce(
                        *(select(f.c.created_at).scalar_subquery() for f in reversed(lookups)),
                        _NEVER,
                    ),
                    func.coalesce(
                        *(select(f.c.id).scalar_subquery() for f in reversed(lookups)),
                        _NO_ID,
                    ),
                )
            )
        lookups.append(
            lookup.order_by(Run.created_at, Run.id)
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True)
            .cte(f"claimable_{status.value.lower()}")
        )
    found = union_all(*(select(lookup) for lookup in lookups)).subquery("found")
    picked = select(found).order_by(found.c.created_at, found.c.id).limit(1).cte("picked")
    taken_back = picked.c.status == _RUNNING
    retried = picked.c.status.in_([s.value for s in RETRIED_STATUSES])
    claimed = (
        update(Run)
        .where(Run.id == picked.c.id)
        .values(
            status=Status.RUNNING,
            claimed_by=bindparam("worker", type_=String),
            lease_token=bindparam("token", type_=Run.lease_token.type),
            lease_expires_at=now + bindparam("duration", type_=Interval),
            attempt=Run.attempt + 1,
            # a run taken over from an expired lease keeps running: it started before
            started_at=case((taken_back, Run.started_at), else_=now),
            ended_at=case((taken_back, Run.ended_at), else_=None),
            # a retried run leaves its failure behind (its status_changed event keeps it),
            # stored as the steps store it: the ORM writes None as a JSON null
            error=case((retried, _JSON_NULL), else_=Run.error),
        )
        .returning(
            *Run.__table__.c,
            picked.c.status.label("previous_status"),
            picked.c.claimed_by.label("previous_worker"),
            picked.c.lease_expires_at.label("previous_expiry"),
            picked.c.attempt.label("previous_attempt"),
        )
        .cte("claimed")
    )
    worker_text = cast(bindparam("worker_name", type_=String), Text)

    def event(
        n: int, type: str, payload: ColumnElement[Any], when: ColumnElement[bool]
    ) -> Select[Any]:
        return select(
            literal(n).label("n"),
            claimed.c.id.label("subject_id"),
            literal(type, String).label("type"),
            payload.label("payload"),
        ).where(when)

    events = union_all(
        event(
            1,
            "lease_expired",
            func.jsonb_build_object(
                "worker",
                claimed.c.previous_worker,
                "attempt",
                claimed.c.previous_attempt,
                "leaseExpiredAt",
                _iso_timestamp(claimed.c.previous_expiry),
            ),
            claimed.c.previous_status == _RUNNING,
        ),
        event(
            2,
            "status_changed",
            func.jsonb_build_object("from", claimed.c.previous_status, "to", Status.PENDING.value),
            claimed.c.previous_status.in_([s.value for s in RETRIED_STATUSES]),
        ),
        event(
            3,
            "status_changed",
            func.jsonb_build_object("from", Status.PENDING.value, "to", Status.RUNNING.value),
            claimed.c.previous_status != _RUNNING,
        ),
        event(
            4,
            "claimed",
            func.jsonb_build_object(
                "worker",
                worker_text,
                "attempt",
                claimed.c.attempt,
                "leaseExpiresAt",
                _iso_timestamp(claimed.c.lease_expires_at),
            ),
            true(),
        ),
    ).subquery("claim_events")
    locked = (
        select(func.pg_advisory_xact_lock(bindparam("lock", EVENT_LOG_LOCK, type_=BigInteger)))
        .select_from(claimed)
        .cte("locked")
    )
    inserted = (
        insert(models.Event)
        .from_select(
            ["subject_type", "subject_id", "type", "actor", "payload"],
            select(
                literal("Run", String),
                events.c.subject_id,
                events.c.type,
                bindparam("actor", type_=String),
                events.c.payload,
            )
            .select_from(locked)
            .join(events, true())
            .order_by(events.c.n),
        )
        .returning(models.Event.sequence)
        .cte("inserted")
    )
    notified = _notification(inserted)
    run = aliased(Run, claimed)
    return (
        select(run)
        .select_from(claimed)
        .join(notified, true())
        .execution_options(populate_existing=True)
    )


async def renew_lease(writer: Writer, token: uuid.UUID, *, lease_seconds: int) -> models.Run:
    """Push the lease's expiry out to `lease_seconds` from now."""
    duration = lease_duration(lease_seconds)
    if ONE_STATEMENT:
        return await _renew_in_one_statement(writer, token, duration)
    run = await _leased_run(writer, token)
    run.lease_expires_at = await writer.now() + duration
    writer.event(
        run,
        "lease_renewed",
        {"worker": run.claimed_by, "leaseExpiresAt": json_value(run.lease_expires_at)},
    )
    return run


async def _renew_in_one_statement(
    writer: Writer, token: uuid.UUID, duration: timedelta
) -> models.Run:
    """The renewal as one statement: lock the run by its token, renew the lease only if
    it is live and the caller may run the run, write `lease_renewed` under the event
    log's lock and notify. Otherwise nothing is written, and the row that comes back
    says why, for the same refusal as the steps give."""
    await _outside_a_transaction(writer)
    studies = writer.studies_allowed()
    statement = _common_renew_statement() if studies is None else _renew_statement(studies)
    values = {"token": token, "duration": duration, "actor": writer.actor}
    row = (await writer.session.execute(statement, values)).one_or_none()
    if row is None:
        raise _not_held()
    run, run_id, expires_at, now = row
    if run is not None:
        return _run_of(run)
    assert expires_at is not None  # the lease_is_complete check: a token has an expiry
    if expires_at < now:
        raise _expired(run_id, expires_at, now)
    # live, but not the caller's to run: the steps' check says so, and how
    await writer.authorize([("Run", run_id)])
    raise Forbidden(
        f"You may not renew the lease on Run {global_id_of('Run', run_id)}: its study is not "
        "one where your token may run runs.",
        action=Action.RUN.name,
    )


def _run_of(run: object) -> models.Run:
    assert isinstance(run, models.Run)
    return run


@functools.lru_cache(maxsize=1)
def _common_renew_statement() -> Select[Any]:
    """The statement of a renewal by a caller who may run every run, built once."""
    return _renew_statement(None)


def _renew_statement(studies: list[int] | None) -> Select[Any]:
    """WITH the run the token leases, locked (waiting for a claimer that takes it over,
    which changes the token); renewed if its lease is live (and in `studies` when given);
    its event inserted under the event log's lock; one NOTIFY: the renewed run (or None),
    and the locked run's id, expiry and the transaction's time, or no row."""
    now = func.now()
    target = (
        select(Run.id, Run.lease_expires_at)
        .where(Run.lease_token == bindparam("token", type_=Run.lease_token.type))
        .with_for_update(key_share=True)
        .cte("target")
    )
    renewable = target.c.lease_expires_at >= now
    if studies is not None:
        renewable = and_(renewable, key_in(Run.study_id, studies))
    renewed = (
        update(Run)
        .where(Run.id == target.c.id, renewable)
        .values(lease_expires_at=now + bindparam("duration", type_=Interval))
        .returning(*Run.__table__.c)
        .cte("renewed")
    )
    locked = (
        select(func.pg_advisory_xact_lock(bindparam("lock", EVENT_LOG_LOCK, type_=BigInteger)))
        .select_from(renewed)
        .cte("locked")
    )
    inserted = (
        insert(models.Event)
        .from_select(
            ["subject_type", "subject_id", "type", "actor", "payload"],
            select(
                literal("Run", String),
                renewed.c.id,
                literal("lease_renewed", String),
                bindparam("actor", type_=String),
                func.jsonb_build_object(
                    "worker",
                    renewed.c.claimed_by,
                    "leaseExpiresAt",
                    _iso_timestamp(renewed.c.lease_expires_at),
                ),
            ).select_from(locked.join(renewed, true())),
        )
        .returning(models.Event.sequence)
        .cte("inserted")
    )
    notified = _notification(inserted)
    run = aliased(Run, renewed)
    return (
        select(run, target.c.id, target.c.lease_expires_at, now)
        .select_from(target)
        .outerjoin(renewed, true())
        .outerjoin(notified, true())
        .execution_options(populate_existing=True)
    )


def _notification(inserted: Any) -> Any:
    """The NOTIFY of `Writer.publish`, with the newest sequence inserted; none when
    nothing was."""
    return (
        select(
            func.pg_notify(
                bindparam("channel", EVENTS_CHANNEL, type_=String),
                cast(func.max(inserted.c.sequence), Text),
            ).label("notified")
        )
        .having(func.count() > 0)
        .cte("notified")
    )


async def release_run(
    writer: Writer,
    token: uuid.UUID,
    status: Status,
    *,
    phase: RunPhase | None = None,
    error: dict[str, Any] | None = None,
    metrics: Sequence[MetricValue] = (),
) -> models.Run:
    """End the lease: the run finishes with `status`, or goes back to the queue (PENDING)
    for another worker. The phase, error and metrics are written with it, or none is."""
    if status not in RELEASE_STATUSES:
        raise BadUserInput(
            f"status {status.value} does not end a lease: release a run as "
            f"{', '.join(s.value for s in RELEASE_STATUSES)} (PENDING gives it back to the "
            "queue); to keep it, renew the lease.",
            field="status",
        )
    if error is not None and status != Status.FAILED:
        raise BadUserInput(
            f"error describes a failure: pass it with status FAILED, not {status.value}.",
            field="error",
        )
    run = await _leased_run(writer, token)
    worker = run.claimed_by
    if phase is not None:
        set_phase(writer, run, phase)
    await record_metrics(writer, run, metrics)
    clear_lease(run)
    if status == Status.PENDING and run.status == Status.RUNNING:
        _requeue(writer, run)
    else:
        await move_run_status(writer, run, status, error)
    writer.event(
        run,
        "released",
        {
            "worker": worker,
            "status": status.value,
            "phase": json_value(run.phase),
            "attempt": run.attempt,
        },
    )
    return run


async def _leased_run(writer: Writer, token: uuid.UUID) -> models.Run:
    """The run `token` holds a live lease on, locked. A claimer that takes the run over
    changes the token, so after waiting for its lock this lookup finds nothing."""
    statement = (
        select(Run)
        .where(Run.lease_token == token)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    run = (await writer.session.scalars(statement)).one_or_none()
    if run is None:
        raise _not_held()
    now = await writer.now()
    expires_at = run.lease_expires_at
    assert expires_at is not None  # the lease_is_complete check: a token has an expiry
    if expires_at < now:
        raise _expired(run.id, expires_at, now)
    return run


def _not_held() -> Conflict:
    return Conflict(
        "This lease is not held on any run: the run was released with it, or the lease "
        "expired and was taken back, and the run may be claimed by another worker now. "
        "Stop working on it and claim a run again.",
        reason="STALE_LEASE",
    )


def _expired(run_id: int, expires_at: datetime, now: datetime) -> Conflict:
    run = global_id_of("Run", run_id)
    return Conflict(
        f"Your lease on Run {run} expired at {expires_at.isoformat()} "
        f"({(now - expires_at).total_seconds():.0f} s ago); the run may be claimed by "
        "another worker now. Stop working on it and claim a run again.",
        reason="STALE_LEASE",
        runId=run,
        expiredAt=expires_at.isoformat(),
    )


async def expire_leases(writer: Writer, limit: int = 100) -> int:
    """Give runs whose lease expired back to the queue, the longest-expired first; returns
    how many. Runs another transaction holds (a claim, a renewal) are skipped, not waited
    for: that transaction settles them."""
    statement = (
        select(Run)
        .where(Run.status == Status.RUNNING, Run.lease_expires_at < await writer.now())
        .order_by(Run.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    runs = (await writer.session.scalars(statement)).all()
    for run in runs:
        _take_back(writer, run)
        _requeue(writer, run)
    return len(runs)


def _take_back(writer: Writer, run: models.Run) -> None:
    """End an expired lease, recording whose it was."""
    metrics.LEASE_EXPIRIES.inc()
    writer.event(
        run,
        "lease_expired",
        {
            "worker": run.claimed_by,
            "attempt": run.attempt,
            "leaseExpiredAt": json_value(run.lease_expires_at),
        },
    )
    clear_lease(run)


def _requeue(writer: Writer, run: models.Run) -> None:
    """RUNNING -> PENDING, which the lifecycle does not offer to clients: only the end of a
    lease gives a running run back to the queue."""
    run.status = Status.PENDING
    run.started_at = None
    run.ended_at = None
    writer.event(run, "status_changed", {"from": Status.RUNNING.value, "to": Status.PENDING.value})
