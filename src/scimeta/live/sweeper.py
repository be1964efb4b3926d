"""Each server process looks for runs whose lease has run out, and puts them back in the
queue with a `lease_expired` event, so that dashboards learn of a dead worker without
waiting for the next claim. Processes sweep side by side: each run is locked with SKIP
LOCKED, so two never expire the same one."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scimeta.writes.runs.claims import expire_leases
from scimeta.writes.transaction import transaction

logger = logging.getLogger(__name__)

# The actor of the events the sweeper writes.
ACTOR = "scimeta"
# Runs expired per transaction; a full batch is followed by another at once.
BATCH = 100


class LeaseSweeper:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scimeta lease sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> int:
        """Expire the runs whose lease has passed; how many it expired."""
        expired = 0
        while True:
            async with self._sessionmaker() as session, transaction(session, ACTOR) as writer:
                count = await expire_leases(writer, BATCH)
            expired += count
            if count < BATCH:
                return expired

    async def _run(self) -> None:
        while True:
            try:
                expired = await self.sweep()
            # a database that is away now may be back at the next sweep; say so and go on
            except Exception:
                logger.warning("lease sweeper: sweep failed", exc_info=True)
            else:
                if expired:
                    logger.info("lease sweeper: %d expired lease(s) put back in the queue", expired)
            # the period between sweeps, not a wait for anything
            await asyncio.sleep(self._interval)
