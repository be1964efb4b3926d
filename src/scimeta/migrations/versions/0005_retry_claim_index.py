"""Failed and cancelled runs in claim order, for claims that retry them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A claim with statuses FAILED or CANCELLED takes the oldest such run with FOR NO KEY
    # UPDATE SKIP LOCKED and LIMIT 1: without an index in (created_at, id) order it sorts
    # every failed run to lock one. Partial, so it holds only the runs a retry may take.
    # Plain CREATE INDEX keeps the migration one transaction.
    op.create_index(
        "ix_runs_retry_status_created_at_id",
        "runs",
        ["status", "created_at", "id"],
        postgresql_where=sa.text("status IN ('FAILED', 'CANCELLED')"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_retry_status_created_at_id", table_name="runs")
