"""Studies, participants and their recordings (acoustic emissions; study specs of runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from scimeta.models.base import Entity, attributes_column, enum_column, reference
from scimeta.models.enums import Knee, Maneuver, RecordingKind


class Study(Entity):
    __tablename__ = "studies"
    __table_args__ = (
        CheckConstraint("spec_hash ~ '^[0-9a-f]{64}$'", name="spec_hash_is_sha256"),
        CheckConstraint("(spec IS NULL) = (spec_hash IS NULL)", name="spec_has_hash"),
    )

    name: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    spec_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    attributes: Mapped[dict[str, Any]] = attributes_column()


class Participant(Entity):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        CheckConstraint("number >= 0", name="number_non_negative"),
    )

    study_id: Mapped[int] = reference("studies.id", ondelete="CASCADE", index=False)
    number: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = attributes_column()


class Recording(Entity):
    """One processed recording of a participant's maneuver on one knee.

    Saving the same (participant, kind, maneuver, knee, pass) again updates the row, so
    the key treats a missing pass number as a value (NULLS NOT DISTINCT).
    """

    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint(
            "participant_id",
            "kind",
            "maneuver",
            "knee",
            "pass_number",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("pass_number IS NULL OR pass_number >= 0", name="pass_number_non_negative"),
        CheckConstraint("num_channels IS NULL OR num_channels > 0", name="num_channels_positive"),
        CheckConstraint(
            "maneuver = 'WALK' OR (pass_number IS NULL AND speed IS NULL)",
            name="pass_and_speed_only_for_walk",
        ),
        Index("ix_recordings_maneuver_knee", "maneuver", "knee"),
        Index("ix_recordings_recorded_at", "recorded_at"),
    )

    participant_id: Mapped[int] = reference("participants.id", ondelete="CASCADE", index=False)
    kind: Mapped[RecordingKind] = enum_column(RecordingKind, "recording_kind")
    maneuver: Mapped[Maneuver] = enum_column(Maneuver, "maneuver")
    knee: Mapped[Knee] = enum_column(Knee, "knee")
    pass_number: Mapped[int | None] = mapped_column(Integer)
    speed: Mapped[str | None] = mapped_column(String(32))
    recorded_at: Mapped[datetime | None]
    device_serial: Mapped[str | None] = mapped_column(String(128))
    firmware_version: Mapped[str | None] = mapped_column(String(64))
    num_channels: Mapped[int | None] = mapped_column(Integer)
    qc_passed: Mapped[bool | None] = mapped_column(Boolean)
    # Pairs of [start, end] seconds that failed quality control.
    qc_fail_segments: Mapped[list[list[float]]] = mapped_column(JSONB, server_default="[]")
    file_id: Mapped[int | None] = reference("files.id", ondelete="SET NULL", nullable=True)
    attributes: Mapped[dict[str, Any]] = attributes_column()


class RecordingChannel(Entity):
    """Per-channel data of a recording: microphone position and quality control."""

    __tablename__ = "recording_channels"
    __table_args__ = (
        UniqueConstraint("recording_id", "index"),
        CheckConstraint("index >= 0", name="index_non_negative"),
        CheckConstraint(
            "signal_dropout IS NULL OR (signal_dropout >= 0 AND signal_dropout <= 1)",
            name="signal_dropout_is_fraction",
        ),
    )

    recording_id: Mapped[int] = reference("recordings.id", ondelete="CASCADE", index=False)
    index: Mapped[int] = mapped_column(Integer)
    microphone_position: Mapped[str | None] = mapped_column(String(32))
    qc_passed: Mapped[bool | None] = mapped_column(Boolean)
    artifact_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # Fraction of the channel's samples lost to dropout, 0 to 1.
    signal_dropout: Mapped[float | None] = mapped_column(Float)


class Synchronization(Entity):
    """Alignment of an audio recording with a biomechanics recording."""

    __tablename__ = "synchronizations"
    __table_args__ = (UniqueConstraint("audio_recording_id", "biomechanics_recording_id"),)

    audio_recording_id: Mapped[int] = reference("recordings.id", ondelete="CASCADE", index=False)
    biomechanics_recording_id: Mapped[int] = reference("recordings.id", ondelete="CASCADE")
    audio_sync_seconds: Mapped[float | None] = mapped_column(Float)
    biomechanics_sync_seconds: Mapped[float | None] = mapped_column(Float)
    offset_seconds: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str | None] = mapped_column(String(64))
    consensus: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    qc_passed: Mapped[bool | None] = mapped_column(Boolean)
    qc_notes: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int | None] = reference("files.id", ondelete="SET NULL", nullable=True)


class MovementCycle(Entity):
    """One movement cycle extracted from a recording."""

    __tablename__ = "movement_cycles"
    __table_args__ = (
        UniqueConstraint("recording_id", "index"),
        CheckConstraint("index >= 0", name="index_non_negative"),
        CheckConstraint("end_seconds >= start_seconds", name="ends_after_start"),
    )

    recording_id: Mapped[int] = reference("recordings.id", ondelete="CASCADE", index=False)
    index: Mapped[int] = mapped_column(Integer)
    start_seconds: Mapped[float] = mapped_column(Float)
    end_seconds: Mapped[float] = mapped_column(Float)
    qc_passed: Mapped[bool | None] = mapped_column(Boolean)
    attributes: Mapped[dict[str, Any]] = attributes_column()
