"""Realistic, deterministic demo data for every domain, loaded idempotently.

`load_demo(engine, scale)` inserts what the given scale calls for and is not stored yet:
running it twice inserts nothing the second time, and a larger scale adds only the
missing top-level rows (with all their children).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.demo.batches import load_batches
from scimeta.demo.bulk import RowWriter
from scimeta.demo.chemistry import load_chemistry
from scimeta.demo.context import DemoLoad
from scimeta.demo.events import EventLog
from scimeta.demo.metrics import MetricRows, load_metric_keys
from scimeta.demo.projects import load_projects
from scimeta.demo.runs import load_runs
from scimeta.demo.studies import load_studies
from scimeta.models import Base

__all__ = ["load_demo"]

# Serialises concurrent loaders: the second waits, then finds everything present.
_ADVISORY_LOCK_KEY = 0x5C1_3E7A_DE30


async def load_demo(engine: AsyncEngine, scale: int = 1) -> dict[str, int]:
    """Load demo data at `scale` (1 is about a thousand rows, for tests) in one
    transaction; returns the number of rows inserted per table."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, not {scale}")
    async with engine.begin() as connection:
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
        )
        writer = RowWriter(connection)
        metric_key_ids = await load_metric_keys(writer)
        demo = DemoLoad(scale, writer, EventLog(), MetricRows(metric_key_ids))
        await load_studies(demo)
        await load_projects(demo)
        await load_runs(demo)
        catalogue = await load_chemistry(demo)
        await load_batches(demo, catalogue)
        await demo.metrics.write(writer)
        await demo.events.write(writer)
    return {table: writer.counts[table] for table in sorted(Base.metadata.tables)}
