"""Row versions for optimistic concurrency, and idempotency keys for create calls.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTITY_TABLES = (
    "agent_outputs",
    "atomic_properties",
    "batch_items",
    "batches",
    "calculations",
    "chunks",
    "files",
    "job_files",
    "jobs",
    "metric_keys",
    "metrics",
    "molecules",
    "movement_cycles",
    "participants",
    "projects",
    "recording_channels",
    "recordings",
    "run_artifacts",
    "runs",
    "studies",
    "synchronizations",
    "trajectories",
)


def upgrade() -> None:
    # A constant default makes this a catalogue-only change: no table is rewritten.
    for table in ENTITY_TABLES:
        op.add_column(table, sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "idempotency_keys",
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=64), nullable=True),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("actor", "key", name=op.f("pk_idempotency_keys")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    for table in ENTITY_TABLES:
        op.drop_column(table, "version")
