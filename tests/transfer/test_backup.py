"""`scimeta backup` and `scimeta restore`: a backup of a running embedded server, restored
into a new data directory, serves the same data; a database at a URL is backed up and
restored into an empty one with every row; a database with tables is not overwritten
unless forced."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.database import create_engine
from scimeta.transfer.backup import DUMP_MAGIC, backup, restore
from scimeta.transfer.formats import TransferError
from tests.conftest import DatabaseFactory
from tests.server.test_serve import _serving
from tests.test_frontend_queries import DOCUMENTS, FrontendQuery
from tests.transfer.conftest import Snapshot, rounded, snapshot

COMMAND_TIMEOUT_SECONDS = 120


def _snapshot_of(url: str) -> Snapshot:
    async def read() -> Snapshot:
        engine = create_engine(url)
        try:
            return await snapshot(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture
async def urls(demo_source: AsyncEngine, databases: DatabaseFactory) -> tuple[str, str]:
    """The demo database's URL and a new, empty database's."""
    return demo_source.url.render_as_string(hide_password=False), await databases.create()


def test_a_database_url_is_backed_up_and_restored_into_an_empty_one(
    urls: tuple[str, str], demo_snapshot: Snapshot, tmp_path: Path
) -> None:
    source, target = urls
    file = tmp_path / "scimeta.dump"
    size = backup(source, file)
    assert size == file.stat().st_size > 0
    assert file.read_bytes().startswith(DUMP_MAGIC)
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(TransferError, match="give --force to replace it"):
        backup(source, file)

    restore(target, file)
    assert _snapshot_of(target) == demo_snapshot

    with pytest.raises(TransferError, match=r"the database holds \d+ tables already"):
        restore(target, file)
    restore(target, file, force=True)
    assert _snapshot_of(target) == demo_snapshot


def test_a_file_that_is_not_a_backup_is_refused(urls: tuple[str, str], tmp_path: Path) -> None:
    _, target = urls
    file = tmp_path / "notes.txt"
    file.write_text("not a dump")
    with pytest.raises(TransferError, match="is not a backup made by scimeta backup"):
        restore(target, file)
    with pytest.raises(TransferError, match="cannot read"):
        restore(target, tmp_path / "missing.dump")


def _scimeta(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The command, on the embedded PostgreSQL whatever the tests' own database is."""
    scimeta = shutil.which("scimeta", path=str(Path(sys.executable).parent))
    assert scimeta is not None
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [scimeta, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )


def _answers(base: str) -> dict[str, Any]:
    answers = {}
    with httpx.Client(base_url=base, timeout=30) as http:
        for path in DOCUMENTS:
            query = FrontendQuery.load(path)
            body = http.post(
                "/graphql", json={"query": query.text, "variables": query.variables}
            ).json()
            assert "errors" not in body, body
            answers[path] = rounded(body["data"])
    return answers


def test_a_backup_of_a_running_server_restored_into_a_new_data_directory_serves_the_same(
    tmp_path: Path,
) -> None:
    original, restored, file = tmp_path / "original", tmp_path / "restored", tmp_path / "b.dump"
    loaded = _scimeta("demo", "--data-dir", str(original))
    assert loaded.returncode == 0, loaded.stderr
    with _serving(original) as base:
        served = _answers(base)
        # taken while the server runs: pg_dump reads one snapshot
        made = _scimeta("backup", str(file), "--data-dir", str(original))
        assert made.returncode == 0, made.stderr
        assert f"backed up the database to {file}" in made.stdout
    assert all(served.values())

    put_back = _scimeta("restore", str(file), "--data-dir", str(restored))
    assert put_back.returncode == 0, put_back.stderr
    assert f"restored {file}" in put_back.stdout
    with _serving(restored) as base:
        assert _answers(base) == served

    again = _scimeta("restore", str(file), "--data-dir", str(restored))
    assert again.returncode == 1
    assert "tables already" in again.stderr
    assert "--force" in again.stderr
    forced = _scimeta("restore", str(file), "--data-dir", str(restored), "--force")
    assert forced.returncode == 0, forced.stderr
