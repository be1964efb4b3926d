"""A database that cannot serve is an outage, not a bug: clients get SERVICE_UNAVAILABLE
with `retryable: true` (HTTP 503 with Retry-After), and readiness says the server cannot
take writes while the database refuses them.

The database is made unavailable for real: the application's connections are pointed at
an address where nothing listens, or the database is made read-only.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from tests.conftest import DatabaseFactory, started

from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
PROJECTS = "query Projects { projects(first: 5) { nodes { name } } }"
CREATE_PROJECT = """
mutation Create($name: String!) {
  createProject(input: {name: $name, directory: "/data/p"}) { project { id name } }
}
"""
# nothing listens on port 1 of loopback: every connection attempt is refused
NOWHERE = "postgresql://postgres@127.0.0.1:1/scimeta"


@pytest.fixture
async def url(databases: DatabaseFactory) -> str:
    """A database of the test's own (tests here change its settings)."""
    url = await databases.create()
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_upgrade)
    finally:
        await engine.dispose()
    return url


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def serving(url: str) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    engine = create_engine(url)
    app = create_app(Settings(), sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield app, http
    finally:
        await engine.dispose()


async def post(
    http: httpx.AsyncClient, query: str, accept: str = GRAPHQL_RESPONSE, **variables: Any
) -> httpx.Response:
    return await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Accept": accept},
    )


def assert_unavailable(response: httpx.Response, reason: str, status: int = 503) -> None:
    assert response.status_code == status, response.text
    if status == 503:
        assert response.headers["retry-after"] == "1"
    errors = response.json()["errors"]
    assert errors, response.json()
    for error in errors:
        extensions = error["extensions"]
        assert extensions["code"] == "SERVICE_UNAVAILABLE", error
        assert extensions["reason"] == reason, error
        assert extensions["retryable"] is True
        assert "errorId" not in extensions
        assert "retry" in error["message"]


async def alter_database(url: str, setting: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(_dsn(url))
    try:
        # (a session of a read-only database starts read-only itself)
        await connection.execute("SET default_transaction_read_only = off")
        await connection.execute(f'ALTER DATABASE "{name}" {setting}')
    finally:
        await connection.close()


async def test_an_unreachable_database_is_503_and_retryable_on_every_path(url: str) -> None:
    async with serving(url) as (app, http):
        await started(app)
        # answered once: the cached statement would answer it again alone
        assert (await post(http, PROJECTS)).status_code == 200
        engine: AsyncEngine = app.state.sessionmaker.kw["bind"]
        # the database goes away
        app.state.sessionmaker = create_sessionmaker(create_engine(NOWHERE))
        try:
            # the cached statement, a new query (planned, then the executor) and a write
            assert_unavailable(await post(http, PROJECTS), "DATABASE_UNREACHABLE")
            assert_unavailable(
                await post(http, "{ projects(first: 2) { totalCount } }"), "DATABASE_UNREACHABLE"
            )
            assert_unavailable(
                await post(http, CREATE_PROJECT, name="never"), "DATABASE_UNREACHABLE"
            )
            # a legacy client, which may be behind any proxy, gets 200 and the same error
            assert_unavailable(
                await post(http, PROJECTS, accept="application/json"),
                "DATABASE_UNREACHABLE",
                status=200,
            )
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["failed_check"] == "database"
        finally:
            await app.state.sessionmaker.kw["bind"].dispose()
        # and comes back
        app.state.sessionmaker = create_sessionmaker(engine)
        assert (await post(http, PROJECTS)).status_code == 200


async def test_a_caller_that_cannot_be_identified_for_an_outage_is_told_to_retry() -> None:
    """Whether the server runs open is the database's to say: while it cannot be asked,
    no request can be identified."""
    engine = create_engine(NOWHERE)
    app = create_app(Settings(), sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            assert_unavailable(await post(http, PROJECTS), "DATABASE_UNREACHABLE")
    finally:
        await engine.dispose()


async def test_a_read_only_database_refuses_writes_as_503_and_readiness_follows(
    url: str,
) -> None:
    await alter_database(url, "SET default_transaction_read_only = on")
    async with serving(url) as (app, http):
        await started(app)
        # reads go on
        assert (await post(http, PROJECTS)).status_code == 200
        response = await post(http, CREATE_PROJECT, name=f"ro-{uuid.uuid4()}")
        assert_unavailable(response, "READ_ONLY")
        assert response.json()["data"] is None
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed_check"] == "writes"

        # writable again (for new connections: the pooled ones are let go)
        await alter_database(url, "RESET default_transaction_read_only")
        await app.state.sessionmaker.kw["bind"].dispose()
        # the failed writes are remembered until a write succeeds
        ready = await http.get("/readyz")
        assert ready.status_code == 503, ready.json()
        assert "read-only" in ready.json()["detail"]
        created = await post(http, CREATE_PROJECT, name=f"rw-{uuid.uuid4()}")
        assert created.status_code == 200, created.json()
        assert (await http.get("/readyz")).json() == {"status": "ready"}
