"""Migrations are the only source of DDL: they build the models' schema exactly, and
downgrade cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.models import Base
from scimeta.server.database import create_engine
from scimeta.server.migrate import current_revision, head_revision, run_downgrade, run_upgrade


@pytest.fixture
async def empty_engine(databases) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    engine = create_engine(await databases.create())
    yield engine
    await engine.dispose()


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_from_empty_creates_every_table_with_no_drift(
    empty_engine: AsyncEngine,
) -> None:
    async with empty_engine.begin() as connection:
        await connection.run_sync(run_upgrade)
        assert await connection.run_sync(current_revision) == head_revision()
        assert await connection.run_sync(_tables) == set(Base.metadata.tables)
        assert await connection.run_sync(_drift) == []


async def test_downgrade_to_base_and_upgrade_again(empty_engine: AsyncEngine) -> None:
    async with empty_engine.begin() as connection:
        await connection.run_sync(run_upgrade)
        await connection.run_sync(run_downgrade, "base")
        assert await connection.run_sync(_tables) == set()
        routines = await connection.execute(
            text("SELECT count(*) FROM pg_proc WHERE proname = 'events_refuse_change'")
        )
        assert routines.scalar_one() == 0
        await connection.run_sync(run_upgrade)
        assert await connection.run_sync(_drift) == []
