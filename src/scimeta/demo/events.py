"""The audit events of the demo rows, gathered from every domain and written in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from scimeta.demo.bulk import RowWriter
from scimeta.models import AuditStatus, Event, Status
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL

Lifecycle = Status | AuditStatus


@dataclass
class EventLog:
    """Events waiting to be written. They are written last and sorted by time, so that the
    log's `sequence` follows `at` as it does for events written as things happen."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        subject_type: str,
        subject_id: int,
        event_type: str,
        at: datetime,
        actor: str | None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        self.rows.append(
            {
                "at": at,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "type": event_type,
                "actor": actor,
                "payload": payload or {},
            }
        )

    def status_changed(
        self,
        subject_type: str,
        subject_id: int,
        at: datetime,
        actor: str | None,
        change: tuple[Lifecycle | None, Lifecycle],
        **details: Any,
    ) -> None:
        before, after = change
        payload = {"from": None if before is None else before.value, "to": after.value}
        self.add(subject_type, subject_id, "status_changed", at, actor, payload | details)

    def lifecycle(
        self,
        subject_type: str,
        subject_id: int,
        actor: str | None,
        status: Status,
        started_at: datetime | None,
        finished_at: datetime | None,
        **final_details: Any,
    ) -> None:
        """The status changes that take a subject from PENDING to `status`: RUNNING when it
        started, then its final status when it finished (or was cancelled unstarted)."""
        if started_at is not None:
            self.status_changed(
                subject_type, subject_id, started_at, actor, (Status.PENDING, Status.RUNNING)
            )
        if finished_at is not None:
            before = Status.PENDING if started_at is None else Status.RUNNING
            self.status_changed(
                subject_type, subject_id, finished_at, actor, (before, status), **final_details
            )

    async def write(self, writer: RowWriter) -> None:
        """Copy the events in, last in the load's transaction and, as every writer of
        events does, under the event log's lock, announced at commit: a server running on
        the database meanwhile sees them commit in sequence order."""
        self.rows.sort(key=lambda row: row["at"])
        if not self.rows:
            return
        await writer.connection.execute(select(func.pg_advisory_xact_lock(EVENT_LOG_LOCK)))
        await writer.copy(Event, self.rows)
        await writer.connection.execute(
            text("SELECT pg_notify(:channel, (SELECT max(sequence) FROM events)::text)"),
            {"channel": EVENTS_CHANNEL},
        )
        self.rows.clear()
