"""Fixtures of the transfer tests: demo data in a database, its export, and helpers that
read a whole database back for comparison."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.demo import load_demo
from scimeta.transfer.export import Manifest, export
from scimeta.transfer.import_export import import_scimeta_export
from scimeta.transfer.progress import QuietProgress
from scimeta.transfer.sources import ImportOptions, ImportReport
from scimeta.transfer.tables import entity_tables
from tests.conftest import DatabaseFactory

# large enough for several pages and batches of the smaller sizes the tests ask for;
# SCIMETA_TEST_TRANSFER_SCALE runs the same tests on more data (10: the demo scale an
# export must carry over with every frontend document answered the same)
DEMO_SCALE = int(os.environ.get("SCIMETA_TEST_TRANSFER_SCALE") or 2)

Snapshot = dict[str, list[str]]


async def snapshot(engine: AsyncEngine) -> Snapshot:
    """Every exported table, each row as PostgreSQL's text of it, in key order: equal
    snapshots hold the same rows with the same ids and the same values, down to a
    negative zero and a JSON null that is not NULL."""
    tables: Snapshot = {}
    async with engine.connect() as connection:
        for entity in entity_tables():
            rows = await connection.execute(
                text(f"SELECT t::text FROM {entity.name} t ORDER BY {entity.key}")
            )
            tables[entity.name] = list(rows.scalars())
    return tables


def rounded(value: Any) -> Any:
    """`value` with every float to 12 significant digits: an average over the same rows
    summed in another order (another plan, another physical order) differs in its last
    bits."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


async def run_import(
    engine: AsyncEngine, directory: Path, *, dry_run: bool = False
) -> ImportReport:
    report = ImportReport("scimeta-export", dry_run)
    return await import_scimeta_export(
        engine, str(directory), ImportOptions(dry_run=dry_run), QuietProgress(), report
    )


@pytest.fixture(scope="package")
async def demo_source(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database with the demo data, which no test changes."""
    engine = await databases.migrated_engine()
    await load_demo(engine, DEMO_SCALE)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="package")
async def demo_snapshot(demo_source: AsyncEngine) -> Snapshot:
    return await snapshot(demo_source)


@pytest.fixture(scope="package")
async def demo_export(
    demo_source: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Manifest]:
    """The demo data exported as JSON lines, in small pages."""
    directory = tmp_path_factory.mktemp("export") / "demo"
    manifest = await export(demo_source, directory, page_rows=97)
    return directory, manifest


@pytest.fixture
async def empty_engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A new database migrated to head, with no rows."""
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()
