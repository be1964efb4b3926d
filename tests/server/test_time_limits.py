"""Time limits: an operation over its deadline is cancelled with QUERY_TIMEOUT and leaves
nothing behind, a lock wait is refused with LOCK_TIMEOUT, and heavy operations take turns
while light ones go straight through.

Each test blocks the server at a real lock held by a transaction of its own (a table
locked against readers, a row locked against writers), so what takes long is the
database, exactly as under a real stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from tests.conftest import DatabaseFactory, started

from scimeta.operation_limits import Limits
from scimeta.resolvers.admission import Turns
from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import Settings
from scimeta.writes.transaction import EVENT_LOG_LOCK

GRAPHQL_RESPONSE = "application/graphql-response+json"
PROJECTS = "query Projects { projects(first: 500) { nodes { name } } }"
STUDIES = "query Studies { studies(first: 1) { nodes { name } } }"
CREATE_PROJECT = """
mutation Create($name: String!) {
  createProject(input: {name: $name, directory: "/data/p"}) { project { id name } }
}
"""
CREATE_JOB = """
mutation Job($project: ID!) {
  createJob(input: {projectId: $project, taskName: "refmac"}) { job { id number } }
}
"""
# the waiting the tests look for is the database's: a backend of the test's database
# waiting for a lock
WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@pytest.fixture(scope="module")
async def url(databases: DatabaseFactory) -> str:
    """A database of the module's own, whose writes commit."""
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


class Server:
    """An in-process application on the module's database with the given limits."""

    def __init__(self, app: Starlette, engine: AsyncEngine, http: httpx.AsyncClient) -> None:
        self.app = app
        self.engine = engine
        self.http = http

    async def post(self, query: str, **variables: Any) -> httpx.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Accept": GRAPHQL_RESPONSE},
        )


@contextlib.asynccontextmanager
async def serving(url: str, **limits: Any) -> AsyncIterator[Server]:
    chosen = Limits(**limits)
    engine = create_engine(
        url,
        statement_timeout_seconds=chosen.statement_timeout_seconds,
        lock_timeout_seconds=chosen.lock_timeout_seconds,
        idle_in_transaction_timeout_seconds=chosen.idle_in_transaction_timeout_seconds,
    )
    app = await started(
        create_app(Settings(limits=chosen), sessionmaker=create_sessionmaker(engine))
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield Server(app, engine, http)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def holding(url: str, statement: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction of its own that runs `statement` (taking a lock) and holds it until
    the block ends."""
    connection = await asyncpg.connect(_dsn(url))
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(statement)
        try:
            yield connection
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait until `check()` holds, polling, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the condition did not come about in time"
        await asyncio.sleep(0.02)


async def waiting_backends(url: str) -> int:
    connection = await asyncpg.connect(_dsn(url))
    try:
        return int(await connection.fetchval(WAITING))
    finally:
        await connection.close()


async def no_waiting(url: str) -> bool:
    return await waiting_backends(url) == 0


async def count(url: str, sql: str, *arguments: Any) -> int:
    connection = await asyncpg.connect(_dsn(url))
    try:
        return int(await connection.fetchval(sql, *arguments))
    finally:
        await connection.close()


def error_of(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


async def test_a_read_over_the_operation_timeout_is_cancelled_and_returns_its_connection(
    url: str,
) -> None:
    async with serving(url, operation_timeout_seconds=0.5) as server:
        # answered once, so that the second time the cached statement answers alone
        assert (await server.post(PROJECTS)).status_code == 200
        async with holding(url, "LOCK TABLE projects IN ACCESS EXCLUSIVE MODE"):
            for path in ("first", "cached"):
                started_at = time.monotonic()
                response = await server.post(PROJECTS)
                elapsed = time.monotonic() - started_at
                error = error_of(response)
                assert error["extensions"]["code"] == "QUERY_TIMEOUT", (path, error)
                assert "0.5 s" in error["message"]
                assert "data" not in response.json()
                assert response.status_code == 504
                assert 0.5 <= elapsed < 5, (path, elapsed)
                # the connection went back to the pool, and its statement was cancelled
                assert server.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
                await eventually(lambda: no_waiting(url))
        # the server is well afterwards
        assert (await server.post(PROJECTS)).status_code == 200


async def test_a_write_over_the_operation_timeout_writes_nothing(url: str) -> None:
    async with serving(url, operation_timeout_seconds=0.5) as server:
        name = f"deadline-{uuid.uuid4()}"
        project = (await server.post(CREATE_PROJECT, name=name)).json()["data"]["createProject"][
            "project"
        ]
        row = await count(url, "SELECT id FROM projects WHERE name = $1", name)
        events_before = await count(url, "SELECT count(*) FROM events")
        async with holding(url, f"SELECT * FROM projects WHERE id = {row} FOR UPDATE"):
            response = await server.post(CREATE_JOB, project=project["id"])
            error = error_of(response)
            assert error["extensions"]["code"] == "QUERY_TIMEOUT", error
            assert server.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            await eventually(lambda: no_waiting(url))
        assert await count(url, "SELECT count(*) FROM jobs WHERE project_id = $1", row) == 0
        assert await count(url, "SELECT count(*) FROM events") == events_before


async def test_a_lock_wait_over_the_lock_timeout_is_lock_timeout_and_retryable(url: str) -> None:
    async with serving(url, lock_timeout_seconds=0.3) as server:
        name = f"lock-{uuid.uuid4()}"
        project = (await server.post(CREATE_PROJECT, name=name)).json()["data"]["createProject"][
            "project"
        ]
        row = await count(url, "SELECT id FROM projects WHERE name = $1", name)
        events_before = await count(url, "SELECT count(*) FROM events")
        async with holding(url, f"SELECT * FROM projects WHERE id = {row} FOR UPDATE"):
            response = await server.post(CREATE_JOB, project=project["id"])
        error = error_of(response)
        assert error["extensions"]["code"] == "LOCK_TIMEOUT", error
        assert error["extensions"]["retryable"] is True
        # the advice is to retry, not to ask for less
        assert "retry" in error["message"].lower()
        assert "smaller pages" not in error["message"]
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert await count(url, "SELECT count(*) FROM jobs WHERE project_id = $1", row) == 0
        assert await count(url, "SELECT count(*) FROM events") == events_before
        # retried once the lock is gone, it succeeds
        retried = await server.post(CREATE_JOB, project=project["id"])
        assert retried.json()["data"]["createJob"]["job"]["number"] == "1"


async def test_a_stalled_holder_of_the_event_log_lock_stalls_writers_only_until_the_lock_timeout(
    url: str,
) -> None:
    """A transaction elsewhere that took the lock every writer takes to commit its events,
    and then stopped (a process frozen mid-commit), costs each writer the lock timeout and
    a LOCK_TIMEOUT it can retry, not the statement timeout and advice to ask for less."""
    async with serving(url, lock_timeout_seconds=0.3) as server:
        events_before = await count(url, "SELECT count(*) FROM events")
        async with holding(url, f"SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})"):
            started_at = time.monotonic()
            response = await server.post(CREATE_PROJECT, name=f"stalled-{uuid.uuid4()}")
            elapsed = time.monotonic() - started_at
        error = error_of(response)
        assert error["extensions"]["code"] == "LOCK_TIMEOUT", error
        assert elapsed < 5, elapsed
        assert "smaller pages" not in error["message"]
        assert await count(url, "SELECT count(*) FROM events") == events_before
        assert server.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_the_server_sessions_carry_the_configured_timeouts(url: str) -> None:
    limits = Limits(
        statement_timeout_seconds=7,
        lock_timeout_seconds=3,
        idle_in_transaction_timeout_seconds=4,
    )
    app = create_app(Settings(database_url=url, limits=limits))
    async with app.router.lifespan_context(app), app.state.sessionmaker() as session:
        shown = [
            await session.scalar(text(f"SHOW {name}"))
            for name in (
                "statement_timeout",
                "lock_timeout",
                "idle_in_transaction_session_timeout",
            )
        ]
    assert shown == ["7s", "3s", "4s"]


async def test_light_queries_go_straight_through_while_heavy_ones_take_turns(url: str) -> None:
    async with serving(url, heavy_cost=100, max_heavy_operations=1) as server:
        turns: Turns = server.app.state.turns
        assert turns.is_heavy(500) and not turns.is_heavy(1)
        # the cost of a light read, before any heavy one is in the way
        baseline = []
        for _ in range(5):
            started_at = time.monotonic()
            assert (await server.post(STUDIES)).status_code == 200
            baseline.append(time.monotonic() - started_at)
        async with holding(url, "LOCK TABLE projects IN ACCESS EXCLUSIVE MODE"):
            # the first heavy read takes the only turn and waits for the table
            first = asyncio.create_task(server.post(PROJECTS))
            await eventually(lambda: _positive(waiting_backends(url)))
            # the second waits for a turn, without a connection
            second = asyncio.create_task(server.post(PROJECTS))
            await eventually(lambda: _now(turns.waiting == 1))
            assert await waiting_backends(url) == 1
            light = []
            for _ in range(5):
                started_at = time.monotonic()
                assert (await server.post(STUDIES)).status_code == 200
                light.append(time.monotonic() - started_at)
            assert not first.done() and not second.done()
            assert min(light) < 5 * min(baseline) + 0.05, (light, baseline)
        for task in (first, second):
            response = await task
            assert response.status_code == 200, response.json()
            assert response.json()["data"]["projects"]["nodes"] is not None


async def test_a_heavy_query_that_gets_no_turn_in_time_is_busy_and_retryable(url: str) -> None:
    async with serving(
        url, heavy_cost=100, max_heavy_operations=1, operation_timeout_seconds=0.5
    ) as server:
        turns: Turns = server.app.state.turns
        async with turns.turn(10**9):
            response = await server.post(PROJECTS)
            light = await server.post(STUDIES)
        error = error_of(response)
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
        assert error["extensions"]["reason"] == "BUSY"
        assert error["extensions"]["retryable"] is True
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert light.status_code == 200
        assert server.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # with the turn free, the same query is served
        assert (await server.post(PROJECTS)).status_code == 200


async def _positive(value: Awaitable[int]) -> bool:
    return await value > 0


async def _now(value: bool) -> bool:
    return value
