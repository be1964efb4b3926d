"""Events commit in the order of their sequence numbers: a transaction that publishes
events waits for one that published before it to commit. This is what makes "the events
after N" a complete answer for a subscriber resuming after N."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scimeta import models
from scimeta.writes.transaction import transaction

WAIT_LIMIT = 20.0


async def publish_one(engine: AsyncEngine, run_id: int) -> int:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        async with transaction(session, "second") as writer:
            event = writer.event(await writer.get(models.Run, run_id), "noted")
        return event.sequence


async def waiting_for_the_event_log(engine: AsyncEngine) -> None:
    """Return once a session waits for an advisory lock (polled, within a bound)."""
    async with asyncio.timeout(WAIT_LIMIT), engine.connect() as connection:
        while True:
            waiting = await connection.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
            await connection.rollback()
            if waiting:
                return
            await asyncio.sleep(0.02)


async def test_a_later_publisher_waits_for_the_earlier_to_commit_and_numbers_after_it(
    committed_engine: AsyncEngine,
) -> None:
    async with AsyncSession(committed_engine, expire_on_commit=False) as session:
        async with transaction(session, "setup") as writer:
            run = await writer.create(models.Run(name=f"order-{uuid.uuid4().hex[:10]}"))
        async with transaction(session, "first") as first:
            event = first.event(await first.get(models.Run, run.id), "noted")
            # published, not yet committed: the lock is held until the commit
            await first.publish()
            second = asyncio.create_task(publish_one(committed_engine, run.id))
            await waiting_for_the_event_log(committed_engine)
            assert not second.done()
    second_sequence = await asyncio.wait_for(second, WAIT_LIMIT)
    assert second_sequence > event.sequence
