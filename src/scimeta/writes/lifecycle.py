"""The one status lifecycle, and the audit and phase orders, with their legal moves.

    PENDING -> RUNNING | FAILED | CANCELLED
    RUNNING -> SUCCEEDED | FAILED | CANCELLED
    FAILED, CANCELLED -> PENDING (queued again)
    SUCCEEDED is final.

Setting the status a row already has is no change and writes no event, so a worker may
repeat a call it is unsure went through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scimeta.errors import Conflict
from scimeta.models import AuditStatus, RunPhase, Status
from scimeta.writes.transaction import Writer, global_id, type_name

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.FAILED, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}),
    Status.FAILED: frozenset({Status.PENDING}),
    Status.CANCELLED: frozenset({Status.PENDING}),
    Status.SUCCEEDED: frozenset(),
}
FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

AUDIT_TRANSITIONS: dict[AuditStatus, frozenset[AuditStatus]] = {
    AuditStatus.PENDING: frozenset({AuditStatus.PASSED, AuditStatus.FAILED}),
    AuditStatus.PASSED: frozenset(),
    AuditStatus.FAILED: frozenset(),
}

PHASE_ORDER = list(RunPhase)


def allowed(current: Status) -> str:
    targets = sorted(status.value for status in TRANSITIONS[current])
    return ", ".join(targets) if targets else "nothing (it is final)"


async def set_status(
    writer: Writer,
    row: Any,
    target: Status,
    *,
    finished_attribute: str | None = "finished_at",
    payload: dict[str, Any] | None = None,
) -> bool:
    """Move a locked row to `target`, keeping its start and finish times (rows without
    them pass `finished_attribute=None`); False if it already was there. The database's
    clock sets the times."""
    current: Status = row.status
    if current == target:
        return False
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"{type_name(row)} {global_id(row)} is {current.value} and cannot become "
            f"{target.value}; from {current.value} it can become {allowed(current)}.",
            reason="ILLEGAL_TRANSITION",
            current=current.value,
        )
    if finished_attribute is not None:
        # read the clock before changing the row: the query would flush a half-made change
        _set_times(row, target, finished_attribute, await writer.now())
    row.status = target
    writer.event(
        row, "status_changed", {"from": current.value, "to": target.value, **(payload or {})}
    )
    return True


def _set_times(row: Any, target: Status, finished_attribute: str, now: datetime) -> None:
    if target == Status.RUNNING:
        row.started_at = now
        setattr(row, finished_attribute, None)
    elif target in FINISHED:
        setattr(row, finished_attribute, now)
    else:
        row.started_at = None
        setattr(row, finished_attribute, None)


def set_audit_status(writer: Writer, row: Any, target: AuditStatus) -> bool:
    current: AuditStatus = row.audit_status
    if current == target:
        return False
    if target not in AUDIT_TRANSITIONS[current]:
        raise Conflict(
            f"{type_name(row)} {global_id(row)} was already audited {current.value}; an "
            "audit result is final. Add a new attempt instead.",
            reason="ILLEGAL_TRANSITION",
            current=current.value,
        )
    row.audit_status = target
    writer.event(row, "audit_status_changed", {"from": current.value, "to": target.value})
    return True


def set_phase(writer: Writer, row: Any, target: RunPhase) -> bool:
    """Phases only move forward (a step may be skipped)."""
    current: RunPhase | None = row.phase
    if current == target:
        return False
    if current is not None and PHASE_ORDER.index(target) < PHASE_ORDER.index(current):
        raise Conflict(
            f"{type_name(row)} {global_id(row)} is in phase {current.value} and cannot go "
            f"back to {target.value}; phases run {' -> '.join(p.value for p in PHASE_ORDER)}.",
            reason="ILLEGAL_TRANSITION",
            current=current.value,
        )
    row.phase = target
    writer.event(
        row, "phase_changed", {"from": current.value if current else None, "to": target.value}
    )
    return True
