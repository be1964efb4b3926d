"""The shared core: files, metric keys and values, and the append-only event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, synonym

from scimeta.models.base import Base, Entity, enum_column, reference
from scimeta.models.enums import EventLevel


class File(Entity):
    """Metadata of a file that stays on disk or in object storage; never its bytes."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint("size_bytes >= 0", name="size_bytes_non_negative"),
        CheckConstraint(
            "checksum IS NULL OR checksum_algorithm IS NOT NULL", name="checksum_has_algorithm"
        ),
        # Importing the same content into a project twice is detected by this index.
        Index(
            "uq_files_project_id_imported_checksum",
            "project_id",
            "checksum_algorithm",
            "checksum",
            unique=True,
            postgresql_where=text("imported_from IS NOT NULL"),
        ),
        Index("ix_files_checksum", "checksum"),
    )

    project_id: Mapped[int | None] = reference("projects.id", ondelete="CASCADE", nullable=True)
    path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    mimetype: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(128))
    checksum_algorithm: Mapped[str | None] = mapped_column(String(32), server_default="sha256")
    modified_at: Mapped[datetime | None]
    annotation: Mapped[str | None] = mapped_column(Text)
    content_flag: Mapped[int | None] = mapped_column(Integer)
    sub_type: Mapped[int | None] = mapped_column(Integer)
    imported_from: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime | None]


class MetricKey(Entity):
    """The catalogue of metric names, with what they mean and their unit."""

    __tablename__ = "metric_keys"

    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(64))


METRIC_OWNERS = ("job_id", "run_id", "chunk_id", "recording_id", "calculation_id")


class Metric(Entity):
    """A named value (KPI) on exactly one job, run, chunk, recording or calculation.

    One nullable foreign key per owner kind keeps referential integrity in the database;
    the CHECK makes sure exactly one of them is set.
    """

    __tablename__ = "metrics"
    __table_args__ = (
        CheckConstraint(f"num_nonnulls({', '.join(METRIC_OWNERS)}) = 1", name="exactly_one_owner"),
        CheckConstraint("value IS NOT NULL OR text IS NOT NULL", name="has_value_or_text"),
        *(
            Index(
                f"uq_metrics_{owner}_key_id",
                owner,
                "key_id",
                unique=True,
                postgresql_where=text(f"{owner} IS NOT NULL"),
            )
            for owner in METRIC_OWNERS
        ),
    )

    key_id: Mapped[int] = reference("metric_keys.id", ondelete="RESTRICT")
    value: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = reference(
        "jobs.id", ondelete="CASCADE", nullable=True, index=False
    )
    run_id: Mapped[int | None] = reference(
        "runs.id", ondelete="CASCADE", nullable=True, index=False
    )
    chunk_id: Mapped[int | None] = reference(
        "chunks.id", ondelete="CASCADE", nullable=True, index=False
    )
    recording_id: Mapped[int | None] = reference(
        "recordings.id", ondelete="CASCADE", nullable=True, index=False
    )
    calculation_id: Mapped[int | None] = reference(
        "calculations.id", ondelete="CASCADE", nullable=True, index=False
    )


class Event(Base):
    """The append-only audit log. `sequence` orders all events; rows are never updated or
    deleted (a trigger created by the migrations refuses both).

    The subject is any node, named by its type and id. It is not a foreign key: the log
    outlives the rows it talks about. A service event (an error or a metric of a service
    itself) has no subject; any event may carry a `level`.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_subject_sequence", "subject_type", "subject_id", "sequence"),
        Index("ix_events_type_sequence", "type", "sequence"),
        Index("ix_events_at", "at"),
        Index(
            "ix_events_level_sequence",
            "level",
            "sequence",
            postgresql_where=text("level IS NOT NULL"),
        ),
        CheckConstraint("(subject_type IS NULL) = (subject_id IS NULL)", name="subject_whole"),
    )

    sequence: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    level: Mapped[EventLevel | None] = enum_column(EventLevel, "level")
    type: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")

    # Every node has an `id`; an event's is its sequence number.
    id: Mapped[int] = synonym("sequence")


class IdempotencyKey(Base):
    """A create call made with an idempotency key: what it was asked and what it made.

    A retry with the same key and input gets the same result back; the same key with a
    different input is refused. Keys are scoped by the caller.
    """

    __tablename__ = "idempotency_keys"

    actor: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    # sha256 of the call's canonical JSON input
    request_hash: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
