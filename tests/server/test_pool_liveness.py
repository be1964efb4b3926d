"""Pooled connections are pinged only when they may be dead: after something noticed the
database going away, or after a long idle time. A busy pool whose database stays up
sends no ping, and a restart seen by the event listener costs no request an error."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import DatabaseFactory
from tests.live.conftest import serving

from scimeta.liveness import liveness_of
from scimeta.server.database import create_engine
from scimeta.server.migrate import run_upgrade

TERMINATE_OTHERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@pytest.fixture
async def url(databases: DatabaseFactory) -> str:
    return await databases.create()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def terminate_others(url: str) -> int:
    connection = await asyncpg.connect(_dsn(url))
    try:
        return int(await connection.fetchval(TERMINATE_OTHERS))
    finally:
        await connection.close()


async def backend_of(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def test_a_busy_connection_is_not_pinged_until_the_database_is_said_to_be_gone(
    url: str,
) -> None:
    engine = create_engine(url)
    try:
        first = await backend_of(engine)
        assert await terminate_others(url) == 1
        # not pinged: its backend is gone, and the statement finds out
        with pytest.raises(DBAPIError):
            await backend_of(engine)

        first = await backend_of(engine)
        assert await terminate_others(url) == 1
        liveness = liveness_of(engine)
        assert liveness is not None
        liveness.lost()
        # pinged, found dead and replaced: the statement runs on a new backend
        assert await backend_of(engine) != first
    finally:
        await engine.dispose()


async def test_a_restart_the_listener_sees_costs_no_request_an_error(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_upgrade)
    try:
        async with (
            serving(engine) as server,
            httpx.AsyncClient(base_url=server.base_url) as http,
        ):
            query = {"query": "{ projects(first: 1) { totalCount } }"}
            assert (await http.post("/graphql", json=query)).status_code == 200
            reconnects = server.hub.reconnects
            # every backend of the database goes: the pool's and the listener's
            assert await terminate_others(url) >= 2
            deadline = time.monotonic() + 10
            while server.hub.reconnects == reconnects:
                assert time.monotonic() < deadline, "the listener did not notice"
                await asyncio.sleep(0.01)
            response = await http.post("/graphql", json=query)
            assert response.status_code == 200, response.text
            assert response.json()["data"] == {"projects": {"totalCount": 0}}
    finally:
        await engine.dispose()
