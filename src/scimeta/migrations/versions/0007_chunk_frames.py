"""Chunk frames: a chunk attempt may hold its frames (atoms, energy, forces and key-value
pairs of each), as imported from a trajectory engine's ASE database.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column without a default: no row is rewritten
    op.add_column(
        "chunks",
        sa.Column("frames", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    # Going back would lose the frames: refuse rather than drop them.
    connection = op.get_bind()
    kept = connection.scalar(sa.text("SELECT count(*) FROM chunks WHERE frames IS NOT NULL"))
    if kept:
        raise RuntimeError(
            f"{kept} chunks hold frames, which revision 0006 cannot hold; export them before "
            "downgrading (nothing was changed)"
        )
    op.drop_column("chunks", "frames")
