"""The run service's event log, kept as scimeta events with their original time and type,
about the run they name; an event is told apart by (ts, type, its Mongo _id kept in the
payload)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimeta.models import EventLevel
from scimeta.transfer.labs.aonp_rows import Refused, id_time, plain, source_id, timestamp
from scimeta.transfer.labs.aonp_sql import INSERT_EVENTS
from scimeta.transfer.labs.aonp_state import NAME, ImportState, chunks
from scimeta.writes.core import MAX_EVENT_TYPE
from scimeta.writes.runs import NAME_LENGTH
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL

EVENTS_PER_STEP = 20_000
EVENT_LEVEL = {
    "debug": EventLevel.DEBUG,
    "info": EventLevel.INFO,
    "warning": EventLevel.WARNING,
    "warn": EventLevel.WARNING,
    "error": EventLevel.ERROR,
    "critical": EventLevel.CRITICAL,
}
# keys the importer adds to an imported event's payload
EVENT_MARKS = ("imported_from", "source_id")


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


async def import_events(state: ImportState) -> None:
    counts = state.report.of("Event")
    state.progress.begin("Event", state.total("events"))
    rows = state.rows("events", "Event", event_row, "_id")
    state.progress.advance(state.total("events") - len(rows))
    seen: dict[str, str] = {}
    for chunk in chunks(rows, EVENTS_PER_STEP):
        async with state.step():
            await state.known_runs([row.run for row in chunk if row.run is not None])
            taken: list[tuple[EventRow, int | None]] = []
            for row in chunk:
                try:
                    if row.source_id in seen:
                        raise Refused(f"{seen[row.source_id]} has the same _id")
                    seen[row.source_id] = row.location
                    taken.append((row, None if row.run is None else state.run_of(row.run)))
                except Refused as exc:
                    state.refuse("Event", row.location, row.source_id, str(exc))
            if taken:
                driver = await state.driver()
                inserted = await driver.fetchval(
                    INSERT_EVENTS,
                    EVENT_LOG_LOCK,
                    EVENTS_CHANNEL,
                    [row.source_id for row, _ in taken],
                    [row.at for row, _ in taken],
                    ["Run" if run_id is not None else None for _, run_id in taken],
                    [run_id for _, run_id in taken],
                    [None if row.level is None else row.level.value for row, _ in taken],
                    [row.type for row, _ in taken],
                    [row.actor for row, _ in taken],
                    [
                        json.dumps(
                            row.payload | {"imported_from": NAME, "source_id": row.source_id}
                        )
                        for row, _ in taken
                    ],
                )
                counts.created += inserted
                counts.present += len(taken) - inserted
        state.progress.advance(len(chunk))
    state.progress.end()
