"""The event log of a Quantum Forge store, kept as scimeta events with their original time
and type, about the rows they name when those were taken; an event is told apart by
(type, time, id in the store)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from scimeta.models import EventLevel
from scimeta.transfer.labs.quantum_forge_rows import Refused, json_of, present, time_of
from scimeta.transfer.labs.quantum_forge_run import NAME, ImportRun
from scimeta.transfer.labs.quantum_forge_sql import INSERT_EVENTS
from scimeta.transfer.labs.quantum_forge_store import EVENT_LOG
from scimeta.writes.core import MAX_EVENT_TYPE
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL

EVENT_LEVEL = {
    "success": EventLevel.INFO,
    "info": EventLevel.INFO,
    "debug": EventLevel.DEBUG,
    "warning": EventLevel.WARNING,
    "error": EventLevel.ERROR,
    "critical": EventLevel.CRITICAL,
}
# event_logs.entity_type -> (the store's table, the node type)
EVENT_SUBJECTS = {
    "molecule": ("molecules", "Molecule"),
    "molecules": ("molecules", "Molecule"),
    "calculation": ("calculations", "Calculation"),
    "calculations": ("calculations", "Calculation"),
    "batch": ("batch_jobs", "Batch"),
    "batches": ("batch_jobs", "Batch"),
    "batch_job": ("batch_jobs", "Batch"),
    "batch_jobs": ("batch_jobs", "Batch"),
    "batch_item": ("batch_items", "BatchItem"),
    "batch_items": ("batch_items", "BatchItem"),
}

# (source id, at, subject type, subject id, level, type, actor, payload JSON)
Logged = tuple[int, datetime, str | None, int | None, Any, str, str | None, str]


async def import_events(run: ImportRun) -> None:
    rows = await run.store.rows(EVENT_LOG)
    counts = run.report.of("Event")
    run.progress.begin("Event", len(rows))
    taken: list[Logged] = []
    for row in rows:
        counts.read += 1
        try:
            taken.append(_logged(run, row))
        except Refused as exc:
            run.refuse("Event", EVENT_LOG, row["id"], str(exc))
    async with run.step():
        driver = await run.driver()
        inserted = await driver.fetchval(
            INSERT_EVENTS,
            EVENT_LOG_LOCK,
            EVENTS_CHANNEL,
            [e[0] for e in taken],
            [e[1] for e in taken],
            [e[2] for e in taken],
            [e[3] for e in taken],
            [e[4] for e in taken],
            [e[5] for e in taken],
            [e[6] for e in taken],
            [e[7] for e in taken],
        )
    counts.created += inserted
    counts.present += len(taken) - inserted
    run.progress.advance(len(rows))
    run.progress.end()


def _logged(run: ImportRun, row: dict[str, Any]) -> Logged:
    event_type = row.get("event_type")
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= MAX_EVENT_TYPE:
        raise Refused(f"its event_type {event_type!r} is not 1 to {MAX_EVENT_TYPE} characters")
    at = time_of(row, "created_at")
    if at is None:
        raise Refused("it has no created_at, the time of the event")
    word = row.get("status")
    level = None
    if word is not None:
        level = EVENT_LEVEL.get(str(word).strip().lower())
        if level is None:
            raise Refused(f"its status {word!r} is not one of {', '.join(EVENT_LEVEL)}")
    entity_type, entity_id = row.get("entity_type"), row.get("entity_id")
    subject_type = subject_id = None
    subject = EVENT_SUBJECTS.get(str(entity_type).strip().lower())
    if subject is not None and entity_id is not None:
        table, type_name = subject
        if entity_id in run.refused.get(table, set()):
            raise Refused(f"its subject, {table} {entity_id}, was refused")
        # an event about a row the store no longer has is kept as a service event
        subject_id = run.ids.get(table, {}).get(entity_id)
        subject_type = type_name if subject_id is not None else None
    payload = present(
        {
            "imported_from": NAME,
            "source_id": row["id"],
            "entity_type": entity_type,
            "entity_id": entity_id,
            "error_message": row.get("error_message"),
            "error_code": row.get("error_code"),
            "context": json_of(row, "context") or None,
            "user_id": row.get("user_id"),
        }
    )
    actor = row.get("service")
    return (
        row["id"],
        at,
        subject_type,
        subject_id,
        None if level is None else level.value,
        event_type,
        actor if isinstance(actor, str) else None,
        json.dumps(payload, default=str),
    )
