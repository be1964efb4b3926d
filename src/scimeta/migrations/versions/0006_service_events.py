"""Service events: an event may be about no node (the service itself: an error, a
metric), and may carry a level.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def upgrade() -> None:
    # Dropping NOT NULL and adding a nullable column rewrite no row, so the append-only
    # trigger (which refuses UPDATE) is not involved and existing events stay as they are.
    op.alter_column("events", "subject_type", existing_type=sa.String(64), nullable=True)
    op.alter_column("events", "subject_id", existing_type=sa.BigInteger(), nullable=True)
    # text with a CHECK of its values, as every enum of the schema is stored
    op.add_column(
        "events",
        sa.Column(
            "level",
            sa.Enum(*LEVELS, name="level", native_enum=False, create_constraint=True, length=32),
            nullable=True,
        ),
    )
    op.create_check_constraint(
        op.f("ck_events_subject_whole"), "events", "(subject_type IS NULL) = (subject_id IS NULL)"
    )
    # "the errors since N": events of one level in log order
    op.create_index(
        "ix_events_level_sequence",
        "events",
        ["level", "sequence"],
        postgresql_where=sa.text("level IS NOT NULL"),
    )


def downgrade() -> None:
    # Going back would lose what the older schema cannot hold: refuse rather than drop it.
    connection = op.get_bind()
    kept = connection.scalar(
        sa.text("SELECT count(*) FROM events WHERE subject_type IS NULL OR level IS NOT NULL")
    )
    if kept:
        raise RuntimeError(
            f"{kept} events have no subject or a level, which revision 0005 cannot hold; "
            "export them before downgrading (nothing was changed)"
        )
    op.drop_index("ix_events_level_sequence", table_name="events")
    op.drop_constraint(op.f("ck_events_subject_whole"), "events", type_="check")
    op.drop_column("events", "level")
    op.alter_column("events", "subject_id", existing_type=sa.BigInteger(), nullable=False)
    op.alter_column("events", "subject_type", existing_type=sa.String(64), nullable=False)
