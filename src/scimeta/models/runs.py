"""Runs (simulations and trajectory engines), their artifacts, trajectories and chunks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from scimeta.models.base import Entity, attributes_column, enum_column, reference
from scimeta.models.enums import AuditStatus, RunPhase, Status


class Run(Entity):
    """A run, optionally of a study. Workers claim it with a lease before working on it."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint("attempt >= 0", name="attempt_non_negative"),
        CheckConstraint(
            "(claimed_by IS NULL) = (lease_token IS NULL)"
            " AND (lease_token IS NULL) = (lease_expires_at IS NULL)",
            name="lease_is_complete",
        ),
        CheckConstraint(
            "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
            name="ends_after_start",
        ),
        Index("ix_runs_status_created_at", "status", "created_at"),
        Index("ix_runs_study_id_created_at", "study_id", "created_at"),
        Index("ix_runs_phase_status", "phase", "status"),
        Index("ix_runs_lease_expires_at", "lease_expires_at"),
        # A lease is looked up by its token, which proves the claim: one run per token.
        Index(
            "uq_runs_lease_token",
            "lease_token",
            unique=True,
            postgresql_where=text("lease_token IS NOT NULL"),
        ),
        # The queue claims take from, oldest first: it stays small however many runs
        # have finished.
        Index(
            "ix_runs_pending_created_at_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'PENDING' AND lease_token IS NULL"),
        ),
        # Failed and cancelled runs in claim order, for claims that retry them.
        Index(
            "ix_runs_retry_status_created_at_id",
            "status",
            "created_at",
            "id",
            postgresql_where=text("status IN ('FAILED', 'CANCELLED')"),
        ),
    )

    name: Mapped[str] = mapped_column(String(255), unique=True)
    study_id: Mapped[int | None] = reference(
        "studies.id", ondelete="RESTRICT", nullable=True, index=False
    )
    status: Mapped[Status] = enum_column(Status, "status", server_default=Status.PENDING.value)
    phase: Mapped[RunPhase | None] = enum_column(RunPhase, "run_phase")
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    lease_token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lease_expires_at: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(Integer, server_default="0")
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attributes: Mapped[dict[str, Any]] = attributes_column()


class RunArtifact(Entity):
    """A file a run produced, with its role (bundle, statepoint, parquet, ...)."""

    __tablename__ = "run_artifacts"
    __table_args__ = (UniqueConstraint("run_id", "file_id"),)

    run_id: Mapped[int] = reference("runs.id", ondelete="CASCADE", index=False)
    file_id: Mapped[int] = reference("files.id", ondelete="NO ACTION")
    role: Mapped[str] = mapped_column(String(64))


class AgentOutput(Entity):
    """Structured output an agent produced about a run (a plan, a report, ...)."""

    __tablename__ = "agent_outputs"
    __table_args__ = (
        Index("ix_agent_outputs_run_id_agent_kind", "run_id", "agent", "kind", "created_at"),
    )

    run_id: Mapped[int] = reference("runs.id", ondelete="CASCADE", index=False)
    agent: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    schema_version: Mapped[str | None] = mapped_column(String(64))


class Trajectory(Entity):
    __tablename__ = "trajectories"
    __table_args__ = (
        UniqueConstraint("run_id", "index"),
        # Lets chunks reference (trajectory, run) so a chunk's run always is its trajectory's.
        UniqueConstraint("id", "run_id"),
        CheckConstraint("index >= 0", name="index_non_negative"),
        CheckConstraint("target_length >= 0", name="target_length_non_negative"),
    )

    run_id: Mapped[int] = reference("runs.id", ondelete="CASCADE", index=False)
    index: Mapped[int] = mapped_column(Integer)
    target_length: Mapped[int] = mapped_column(Integer)
    # The starting structure: symbols, positions, cell.
    init_atoms: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Chunk(Entity):
    """One attempt at generating one chunk of a trajectory, and its audit result."""

    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("trajectory_id", "index", "attempt"),
        ForeignKeyConstraint(
            ["trajectory_id", "run_id"],
            ["trajectories.id", "trajectories.run_id"],
            ondelete="CASCADE",
            name="fk_chunks_trajectory_id_run_id_trajectories",
        ),
        CheckConstraint("index >= 0", name="index_non_negative"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        CheckConstraint("frame_count IS NULL OR frame_count >= 0", name="frame_count_non_negative"),
        Index("ix_chunks_trajectory_id_audit_status", "trajectory_id", "audit_status"),
        Index("ix_chunks_run_id_audit_status", "run_id", "audit_status"),
        Index("ix_chunks_model_version", "model_version"),
    )

    # Denormalised from the trajectory (the composite foreign key keeps it right) so that
    # a run's chunks are one index scan away.
    run_id: Mapped[int] = mapped_column(BigInteger)
    trajectory_id: Mapped[int] = mapped_column(BigInteger)
    index: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(255))
    audit_status: Mapped[AuditStatus] = enum_column(
        AuditStatus, "audit_status", server_default=AuditStatus.PENDING.value
    )
    frame_count: Mapped[int | None] = mapped_column(Integer)
    file_id: Mapped[int | None] = reference("files.id", ondelete="SET NULL", nullable=True)
    # The frames themselves, where they were imported: one object per frame, each shaped
    # like a trajectory's init_atoms plus the frame's energy, forces and key-value pairs.
    frames: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
