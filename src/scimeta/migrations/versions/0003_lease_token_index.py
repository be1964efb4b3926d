"""Runs found by their lease token, and the queue of claimable runs in claim order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE INDEX (not CONCURRENTLY) so that the migration stays one transaction;
    # both indexes cover only leased or queued runs, which keeps the build short.
    op.create_index(
        "uq_runs_lease_token",
        "runs",
        ["lease_token"],
        unique=True,
        postgresql_where=sa.text("lease_token IS NOT NULL"),
    )
    op.create_index(
        "ix_runs_pending_created_at_id",
        "runs",
        ["created_at", "id"],
        postgresql_where=sa.text("status = 'PENDING' AND lease_token IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_pending_created_at_id", table_name="runs")
    op.drop_index("uq_runs_lease_token", table_name="runs")
