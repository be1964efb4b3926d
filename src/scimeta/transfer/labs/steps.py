"""What every importer of a lab's store writes through: one transaction per step on its
connection, with a writer whose events are published at the step's end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from scimeta.writes.transaction import Writer


@asynccontextmanager
async def import_step(
    connection: AsyncConnection, actor: str, dry_run: bool, lock: int | None = None
) -> AsyncIterator[Writer]:
    """One transaction, committed unless this is a dry run (whose steps all share one
    that the importer rolls back), with a writer whose events are published at its end.
    `lock`: an advisory lock held for the transaction, so that two imports of one source
    take turns (it also starts the driver's transaction, which raw statements join)."""
    if not connection.in_transaction():
        await connection.begin()
    if lock is not None:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
    async with AsyncSession(bind=connection, expire_on_commit=False) as session:
        writer = Writer(session, actor)
        yield writer
        await writer.publish()
    if not dry_run:
        await connection.commit()


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection`, for COPY and array statements."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection
