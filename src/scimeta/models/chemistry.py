"""Molecules, quantum-chemistry calculations with per-atom properties, and batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from scimeta.models.base import Entity, attributes_column, enum_column, reference
from scimeta.models.enums import Status


class Molecule(Entity):
    """A molecule by its canonical SMILES (so `OCC` and `CCO` are one molecule)."""

    __tablename__ = "molecules"

    smiles: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    formula: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = attributes_column()


class Calculation(Entity):
    __tablename__ = "calculations"
    __table_args__ = (
        CheckConstraint("gap IS NULL OR gap >= 0", name="gap_non_negative"),
        CheckConstraint("dipole IS NULL OR dipole >= 0", name="dipole_non_negative"),
        CheckConstraint(
            "execution_seconds IS NULL OR execution_seconds >= 0",
            name="execution_seconds_non_negative",
        ),
        Index("ix_calculations_molecule_id_created_at", "molecule_id", "created_at"),
        Index("ix_calculations_status", "status"),
        Index("ix_calculations_energy", "energy"),
        Index("ix_calculations_gap", "gap"),
        Index("ix_calculations_finished_at", "finished_at"),
    )

    molecule_id: Mapped[int] = reference("molecules.id", ondelete="CASCADE", index=False)
    method: Mapped[str] = mapped_column(String(64), server_default="GFN2-xTB")
    status: Mapped[Status] = enum_column(Status, "status", server_default=Status.PENDING.value)
    energy: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    dipole: Mapped[float | None] = mapped_column(Float)
    execution_seconds: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = attributes_column()


class AtomicProperty(Entity):
    """Per-atom results of a calculation: element, partial charge and further values."""

    __tablename__ = "atomic_properties"
    __table_args__ = (
        UniqueConstraint("calculation_id", "atom_index"),
        CheckConstraint("atom_index >= 0", name="atom_index_non_negative"),
    )

    calculation_id: Mapped[int] = reference("calculations.id", ondelete="CASCADE", index=False)
    atom_index: Mapped[int] = mapped_column(Integer)
    element: Mapped[str] = mapped_column(String(3))
    charge: Mapped[float | None] = mapped_column(Float)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class Batch(Entity):
    """A batch of molecules to compute together."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_status_created_at", "status", "created_at"),)

    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(64), server_default="GFN2-xTB")
    status: Mapped[Status] = enum_column(Status, "status", server_default=Status.PENDING.value)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]] = attributes_column()


class BatchItem(Entity):
    """A molecule in a batch; once computed, its calculation."""

    __tablename__ = "batch_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "molecule_id"),
        Index("ix_batch_items_batch_id_status", "batch_id", "status"),
    )

    batch_id: Mapped[int] = reference("batches.id", ondelete="CASCADE", index=False)
    molecule_id: Mapped[int] = reference("molecules.id", ondelete="RESTRICT")
    status: Mapped[Status] = enum_column(Status, "status", server_default=Status.PENDING.value)
    calculation_id: Mapped[int | None] = reference(
        "calculations.id", ondelete="SET NULL", nullable=True
    )
