"""A run service run document as a scimeta run with its artifacts, checked by the rules
the run mutations enforce."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scimeta.models import RunPhase, Status
from scimeta.transfer.labs.aonp_rows import (
    Refused,
    extras_of,
    id_time,
    name_of,
    plain,
    source_attribute,
    source_id,
    timestamp,
    word_of,
)
from scimeta.writes.runs import NAME_LENGTH

RUN_STATUS = {
    "queued": Status.PENDING,
    "running": Status.RUNNING,
    "succeeded": Status.SUCCEEDED,
    "failed": Status.FAILED,
}
RUN_PHASE = {phase.value.lower(): phase for phase in RunPhase}
_RUN_FIELDS = {
    "_id",
    "run_id",
    "spec_hash",
    "status",
    "phase",
    "claimed_by",
    "lease_expires_at",
    "attempt",
    "artifacts",
    "created_at",
    "started_at",
    "ended_at",
    "error",
}


@dataclass
class RunRow:
    location: str
    source_id: str | None
    name: str
    spec_hash: str | None
    status: Status
    phase: RunPhase | None
    claimed_by: str | None
    lease_token: uuid.UUID | None
    lease_expires_at: datetime | None
    attempt: int
    started_at: datetime | None
    ended_at: datetime | None
    error: dict[str, Any] | None
    created_at: datetime | None
    attributes: dict[str, Any]
    # role -> path as the run service recorded it
    artifacts: dict[str, str] = field(default_factory=dict)


def run_row(location: str, document: dict[str, Any]) -> RunRow:
    name = name_of(document, "run_id", NAME_LENGTH)
    status = word_of(document, "status", RUN_STATUS, required=True)
    phase = word_of(document, "phase", RUN_PHASE, required=False)
    attributes = extras_of(document, _RUN_FIELDS)
    started_at = timestamp(document.get("started_at"), "started_at")
    ended_at = timestamp(document.get("ended_at"), "ended_at")
    if started_at is not None and ended_at is not None and ended_at < started_at:
        raise Refused(
            f"it ended ({ended_at.isoformat()}) before it started ({started_at.isoformat()}); "
            "scimeta keeps runs that end after they start"
        )
    claimed_by = document.get("claimed_by")
    if claimed_by is not None and (
        not isinstance(claimed_by, str) or not 0 < len(claimed_by) <= NAME_LENGTH
    ):
        raise Refused(f"its claimed_by is not a worker name of 1 to {NAME_LENGTH} characters")
    lease_expires_at = timestamp(document.get("lease_expires_at"), "lease_expires_at")
    lease_token = None
    if status is Status.RUNNING and claimed_by is not None and lease_expires_at is not None:
        # the worker holds the lease until it expires; its token is new, as a claim's is
        lease_token = uuid.uuid4()
    else:
        # only a running run is a worker's: the claim of any other is history
        for key, value in (("claimed_by", claimed_by), ("lease_expires_at", lease_expires_at)):
            if value is not None:
                attributes[key] = plain(value, key)
        claimed_by = lease_expires_at = None
    attempt = document.get("attempt")
    if attempt is None:
        attempt = 1 if started_at is not None or claimed_by is not None else 0
    elif isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise Refused(f"its attempt {plain(attempt, 'attempt')!r} is not a whole number >= 0")
    error = _error(document.get("error"))
    if error is not None and status is not Status.FAILED:
        # scimeta keeps an error on a failed run only; a run that moved on keeps it here
        attributes["error"] = error
        error = None
    spec = document.get("spec_hash")
    if spec is not None and not isinstance(spec, str):
        raise Refused(f"its spec_hash {plain(spec, 'spec_hash')!r} is not text")
    return RunRow(
        location=location,
        source_id=source_id(document),
        name=name,
        spec_hash=spec or None,
        status=status,
        phase=phase,
        claimed_by=claimed_by,
        lease_token=lease_token,
        lease_expires_at=lease_expires_at,
        attempt=int(attempt),
        started_at=started_at,
        ended_at=ended_at,
        error=error,
        created_at=timestamp(document.get("created_at"), "created_at") or id_time(document),
        attributes=attributes | source_attribute(document),
        artifacts=_artifacts(document.get("artifacts")),
    )


def _error(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    converted = plain(value, "error")
    return converted if isinstance(converted, dict) else {"message": converted}


def _artifacts(value: Any) -> dict[str, str]:
    """role -> path: `{bundle_path: ...}` is the bundle."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused("its artifacts are not an object of paths ({bundle_path: ...})")
    found = {}
    for key, path in value.items():
        if path is None:
            continue
        role = key.removesuffix("_path")
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            raise Refused(f"its artifacts.{key} is not a path")
        if not 0 < len(role) <= 64:
            raise Refused(f"its artifacts.{key} does not name a role of 1 to 64 characters")
        found[role] = path
    return found
