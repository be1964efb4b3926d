"""The run service's documents as scimeta rows, checked by the rules the mutations
enforce; a document scimeta cannot take raises `Refused`, saying why."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scimeta.errors import BadUserInput
from scimeta.models import EventLevel, RunPhase, Status
from scimeta.transfer.labs.aonp_export import (
    Refused,
    id_time,
    number,
    plain,
    source_id,
    timestamp,
)
from scimeta.writes.core import (
    MAX_EVENT_TYPE,
    MAX_METRIC_KEY_NAME,
    check_metric_key_text,
)
from scimeta.writes.runs import NAME_LENGTH, SCHEMA_VERSION_LENGTH, spec_hash

RUN_STATUS = {
    "queued": Status.PENDING,
    "running": Status.RUNNING,
    "succeeded": Status.SUCCEEDED,
    "failed": Status.FAILED,
}
RUN_PHASE = {phase.value.lower(): phase for phase in RunPhase}
EVENT_LEVEL = {
    "debug": EventLevel.DEBUG,
    "info": EventLevel.INFO,
    "warning": EventLevel.WARNING,
    "warn": EventLevel.WARNING,
    "error": EventLevel.ERROR,
    "critical": EventLevel.CRITICAL,
}
# summary fields that are OpenMC results or settings: numbers, with the catalogue's unit
SUMMARY_NUMBERS = {
    "keff": None,
    "keff_std": None,
    "keff_uncertainty_pcm": "pcm",
    "n_batches": None,
    "n_inactive": None,
    "n_particles": None,
}
# keys the importer adds to an imported event's payload
EVENT_MARKS = ("imported_from", "source_id")

_STUDY_FIELDS = {"_id", "spec_hash", "canonical_spec", "created_at"}
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
_SUMMARY_FIELDS = {"_id", "run_id", "extracted_at"}


@dataclass
class StudyRow:
    location: str
    source_id: str | None
    stored_hash: str
    spec: dict[str, Any]
    digest: str
    spec_name: str | None
    created_at: datetime | None
    attributes: dict[str, Any]


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


@dataclass
class MetricRow:
    key: str
    value: float | None
    text: str | None
    unit: str | None


@dataclass
class SummaryRow:
    location: str
    source_id: str | None
    run: str
    metrics: list[MetricRow]
    extracted_at: datetime | None


@dataclass
class OutputRow:
    location: str
    source_id: str | None
    run: str
    agent: str
    kind: str
    data: dict[str, Any]
    schema_version: str | None
    created_at: datetime


@dataclass
class EventRow:
    location: str
    source_id: str
    run: str | None
    at: datetime
    type: str
    actor: str | None
    level: EventLevel | None
    payload: dict[str, Any]


def study_row(location: str, document: dict[str, Any]) -> StudyRow:
    spec = document.get("canonical_spec")
    if not isinstance(spec, dict):
        raise Refused("its canonical_spec is not a JSON object: a study is its spec")
    stored = document.get("spec_hash")
    if not isinstance(stored, str) or not stored.strip():
        raise Refused("it has no spec_hash, which runs name their study by")
    spec = plain(spec, "canonical_spec")
    name = spec.get("name")
    attributes = _extras(document, _STUDY_FIELDS)
    digest = spec_hash(spec)
    if stored != digest:
        attributes["aonp_spec_hash"] = stored
    return StudyRow(
        location=location,
        source_id=source_id(document),
        stored_hash=stored,
        spec=spec,
        digest=digest,
        spec_name=name if isinstance(name, str) and 0 < len(name) <= NAME_LENGTH else None,
        created_at=timestamp(document.get("created_at"), "created_at") or id_time(document),
        attributes=attributes | _source(document),
    )


def run_row(location: str, document: dict[str, Any]) -> RunRow:
    name = _name(document, "run_id", NAME_LENGTH)
    status = _word(document, "status", RUN_STATUS, required=True)
    phase = _word(document, "phase", RUN_PHASE, required=False)
    attributes = _extras(document, _RUN_FIELDS)
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
        attributes=attributes | _source(document),
        artifacts=_artifacts(document.get("artifacts")),
    )


def summary_row(location: str, document: dict[str, Any]) -> SummaryRow:
    run = _name(document, "run_id", NAME_LENGTH)
    metrics = []
    for key, value in document.items():
        if key in _SUMMARY_FIELDS or value is None:
            continue
        try:
            check_metric_key_text(key, "key", MAX_METRIC_KEY_NAME)
        except BadUserInput as exc:
            raise Refused(f"its field {key!r} cannot name a metric: {exc.message}") from exc
        if key in SUMMARY_NUMBERS:
            metrics.append(MetricRow(key, number(value, key), None, SUMMARY_NUMBERS[key]))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            metrics.append(MetricRow(key, number(value, key), None, None))
        else:
            converted = plain(value, key)
            text = converted if isinstance(converted, str) else json.dumps(converted)
            metrics.append(MetricRow(key, None, text, None))
    if not metrics:
        raise Refused("it holds no results: no field besides _id, run_id and extracted_at")
    return SummaryRow(
        location=location,
        source_id=source_id(document),
        run=run,
        metrics=metrics,
        extracted_at=timestamp(document.get("extracted_at"), "extracted_at"),
    )


def output_row(location: str, document: dict[str, Any]) -> OutputRow:
    run = _name(document, "run_id", NAME_LENGTH)
    agent = _name(document, "agent", NAME_LENGTH)
    kind = _name(document, "kind", NAME_LENGTH)
    data = document.get("data")
    if not isinstance(data, dict):
        raise Refused("its data is not a JSON object, which scimeta keeps an agent's output as")
    version = document.get("schema_version")
    if version is not None:
        if isinstance(version, int | float) and not isinstance(version, bool):
            version = str(version)
        if not isinstance(version, str) or not 0 < len(version) <= SCHEMA_VERSION_LENGTH:
            raise Refused(
                f"its schema_version is not text of 1 to {SCHEMA_VERSION_LENGTH} characters"
            )
    created_at = timestamp(document.get("ts"), "ts") or id_time(document)
    if created_at is None:
        raise Refused("it has no ts, which tells it from the agent's other outputs of the run")
    return OutputRow(
        location=location,
        source_id=source_id(document),
        run=run,
        agent=agent,
        kind=kind,
        data=plain(data, "data"),
        schema_version=version,
        created_at=created_at,
    )


def event_row(location: str, document: dict[str, Any]) -> EventRow:
    identity = source_id(document)
    if identity is None:
        raise Refused("it has no _id, which keeps a second import from appending it again")
    event_type = document.get("type")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= MAX_EVENT_TYPE:
        raise Refused(f"its type is not text of 1 to {MAX_EVENT_TYPE} characters")
    at = timestamp(document.get("ts"), "ts") or id_time(document)
    if at is None:
        raise Refused("it has no ts, the time of the event")
    actor = document.get("agent")
    if actor is not None and (not isinstance(actor, str) or len(actor) > NAME_LENGTH):
        raise Refused(f"its agent is not a name of up to {NAME_LENGTH} characters")
    payload = document.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise Refused(
            f"its payload is a {type(payload).__name__}, not a JSON object; scimeta's events "
            "carry an object"
        )
    payload = plain(payload, "payload")
    taken = [key for key in EVENT_MARKS if key in payload]
    if taken:
        raise Refused(
            f"its payload has the key {taken[0]!r}, which the import uses to find the event again"
        )
    run = document.get("run_id")
    if run is not None and not isinstance(run, str):
        raise Refused(f"its run_id {plain(run, 'run_id')!r} is not text")
    level = _level(document, payload, event_type, service=not run)
    return EventRow(
        location=location,
        source_id=identity,
        run=run or None,
        at=at,
        type=event_type,
        actor=actor or None,
        level=level,
        payload=payload,
    )


def _level(
    document: dict[str, Any], payload: dict[str, Any], event_type: str, *, service: bool
) -> EventLevel | None:
    """The level the event names, else ERROR for an error event, else INFO for a service
    event (which always has one)."""
    for where in (document, payload):
        word = where.get("level")
        if isinstance(word, str) and word.strip().lower() in EVENT_LEVEL:
            return EVENT_LEVEL[word.strip().lower()]
    lowered = event_type.lower()
    if lowered == "error" or lowered.endswith(("_error", "_failed")):
        return EventLevel.ERROR
    return EventLevel.INFO if service else None


def _name(document: dict[str, Any], key: str, maximum: int) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"it has no {key}")
    if len(value) > maximum:
        raise Refused(f"its {key} is {len(value)} characters long; at most {maximum} fit")
    if "\x00" in value:
        raise Refused(f"its {key} holds a NUL character, which PostgreSQL text cannot")
    return value


def _word(document: dict[str, Any], key: str, words: dict[str, Any], *, required: bool) -> Any:
    word = document.get(key)
    if word is None and not required:
        return None
    found = words.get(word.strip().lower()) if isinstance(word, str) else None
    if found is None:
        raise Refused(f"its {key} {plain(word, key)!r} is not one of {'|'.join(words)}")
    return found


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


def _extras(document: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Fields scimeta has no column for, kept in `attributes`."""
    return {key: plain(value, key) for key, value in document.items() if key not in known}


def _source(document: dict[str, Any]) -> dict[str, Any]:
    identity = source_id(document)
    return {} if identity is None else {"source_id": identity}
