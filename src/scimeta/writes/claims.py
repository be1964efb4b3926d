"""Leased claims of queued runs (seed 004 `claim_next_run` and `release_run`).

A worker claims the oldest claimable run and holds it under a lease: a random token that
only the worker sees, and an expiry it must keep pushing out while it works. The token,
not the worker's name, proves the claim, so a worker that stalled past its expiry cannot
act on a run that was given to another worker meanwhile: its token no longer matches.

A lease that expired is taken back either by the next claim that reaches the run or by
`expire_leases`, whichever comes first; both write a `lease_expired` event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    select,
    true,
    tuple_,
)

from scimeta import models
from scimeta.auth.policy import Action, Forbidden
from scimeta.errors import BadUserInput, Conflict
from scimeta.loaders.batch import key_in
from scimeta.models import RunPhase, Status
from scimeta.writes.core import MetricValue, record_metrics
from scimeta.writes.lifecycle import set_phase, set_status
from scimeta.writes.runs import NAME_LENGTH, checked_text, clear_lease, move_run_status
from scimeta.writes.transaction import Writer, global_id, json_value

MAX_LEASE_SECONDS = 86_400
RELEASE_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.PENDING)

Run = models.Run

# Rendered into the SQL rather than bound, so that the planner can match the partial
# index of queued runs even in a prepared statement's generic plan.
_PENDING = bindparam("pending", Status.PENDING, type_=Run.status.type, literal_execute=True)


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


async def claim_run(
    writer: Writer,
    *,
    worker: str,
    lease_seconds: int,
    condition: ColumnElement[bool] | None = None,
) -> models.Run | None:
    """Lease the oldest claimable run that matches `condition` to `worker`; None if there
    is none. Concurrent claimers skip each other's rows instead of waiting, so each gets a
    different run."""
    checked_text(worker, "worker", NAME_LENGTH)
    duration = lease_duration(lease_seconds)
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
    now = await writer.now()
    run = await _oldest_claimable(writer, condition, now)
    if run is None:
        return None
    if run.status == Status.RUNNING:
        _take_back(writer, run)
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


async def _oldest_claimable(
    writer: Writer, condition: ColumnElement[bool] | None, now: datetime
) -> models.Run | None:
    """Two index-ordered lookups instead of one query with an OR, which no index orders:
    runs whose lease expired (few, as the sweeper takes them back; by
    ix_runs_lease_expires_at), then queued runs older than that one (by
    ix_runs_pending_created_at_id). Each locks at most one row. When both find a run the
    expired one stays locked, unused, until this transaction ends; other claimers skip it
    meanwhile and take the next."""
    candidates = (
        select(Run)
        .where(condition if condition is not None else true())
        .order_by(Run.created_at, Run.id)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    expired = await _first(
        writer, candidates.where(Run.status == Status.RUNNING, Run.lease_expires_at < now)
    )
    queued = candidates.where(Run.status == _PENDING, Run.lease_token.is_(None))
    if expired is not None:
        queued = queued.where(
            tuple_(Run.created_at, Run.id) < tuple_(expired.created_at, expired.id)
        )
    return await _first(writer, queued) or expired


async def _first(writer: Writer, statement: Select[models.Run]) -> models.Run | None:
    return (await writer.session.scalars(statement)).one_or_none()


async def renew_lease(writer: Writer, token: uuid.UUID, *, lease_seconds: int) -> models.Run:
    """Push the lease's expiry out to `lease_seconds` from now."""
    duration = lease_duration(lease_seconds)
    run = await _leased_run(writer, token)
    run.lease_expires_at = await writer.now() + duration
    writer.event(
        run,
        "lease_renewed",
        {"worker": run.claimed_by, "leaseExpiresAt": json_value(run.lease_expires_at)},
    )
    return run


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
        raise Conflict(
            "This lease is not held on any run: the run was released with it, or the lease "
            "expired and was taken back, and the run may be claimed by another worker now. "
            "Stop working on it and claim a run again.",
            reason="STALE_LEASE",
        )
    now = await writer.now()
    expires_at = run.lease_expires_at
    assert expires_at is not None  # the lease_is_complete check: a token has an expiry
    if expires_at < now:
        raise Conflict(
            f"Your lease on Run {global_id(run)} expired at {expires_at.isoformat()} "
            f"({(now - expires_at).total_seconds():.0f} s ago); the run may be claimed by "
            "another worker now. Stop working on it and claim a run again.",
            reason="STALE_LEASE",
            runId=global_id(run),
            expiredAt=expires_at.isoformat(),
        )
    return run


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
