"""/metrics: counters that move with requests, errors and subscriptions, gathered from
every worker of `scimeta serve --workers 2`; who may read them (the metrics token, a
grant on everything, or a port of their own)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import DatabaseFactory, started
from tests.live.conftest import MESSAGE_TIMEOUT, Subscriber

from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Project, Role
from scimeta.server.app import create_app
from scimeta.server.settings import Settings

STARTUP_DEADLINE_SECONDS = 90.0
POLL_SECONDS = 0.05

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scrape: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scrape.items() if n == name and wanted <= ls)


def requests_of(scrape: Samples, operation: str, **labels: str) -> float:
    return value(scrape, "scimeta_requests_total", operation=operation, **labels)


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_requests_errors_and_statements_are_counted_by_operation(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    for _ in range(3):
        ok = await client.post(
            "/graphql", json={"query": "query MetricsRuns { runs { totalCount } }"}
        )
        assert ok.status_code == 200, ok.text
    broken = await client.post("/graphql", json={"query": "query MetricsBroken { nope }"})
    assert broken.status_code == 400
    unparsable = await client.post("/graphql", json={"query": "query {"})
    assert unparsable.status_code == 400
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        moved(
            "scimeta_requests_total",
            operation="MetricsRuns",
            type="query",
            status="200",
            code="none",
        )
        == 3
    )
    assert (
        moved(
            "scimeta_requests_total",
            operation="MetricsBroken",
            type="query",
            status="400",
            code="GRAPHQL_VALIDATION_FAILED",
        )
        == 1
    )
    assert (
        moved("scimeta_requests_total", type="none", status="400", code="GRAPHQL_PARSE_FAILED") == 1
    )
    assert moved("scimeta_request_duration_seconds_count", operation="MetricsRuns") == 3
    assert moved("scimeta_request_duration_seconds_sum", operation="MetricsRuns") > 0
    # at least the statement that counts the runs, for each of the three
    assert moved("scimeta_sql_statements_total", operation="MetricsRuns", type="query") >= 3
    assert moved("scimeta_sql_seconds_total", operation="MetricsRuns", type="query") > 0


async def test_operation_names_are_bounded() -> None:
    from scimeta.metrics import ANONYMOUS, OTHER, OperationNames

    names = OperationNames(limit=2)
    assert [names.label(n) for n in ("A", "B", "C", "A", None, "not a name!")] == [
        "A",
        "B",
        OTHER,
        "A",
        ANONYMOUS,
        OTHER,
    ]


async def test_the_metrics_token_is_the_only_way_in_when_set(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    app = await started(create_app(Settings(metrics_token="m-secret"), sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer m-secre"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer m-secret"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "scimeta_requests_total" not in missing.text
    assert right.status_code == 200
    assert "scimeta_requests_total" in right.text


async def test_with_api_tokens_metrics_need_a_grant_on_everything(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        project = Project(name=f"metrics-{uuid.uuid4().hex[:8]}")
        session.add(project)
        await session.flush()
        everything = await create_token(session, name="all", grants=[Grant(Role.VIEWER)])
        scoped = await create_token(
            session, name="one", grants=[Grant(Role.ADMIN, project_id=project.id)]
        )
        await session.commit()
    app = await started(create_app(Settings(), sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        anonymous = await http.get("/metrics")
        of_one_project = await http.get(
            "/metrics", headers={"Authorization": f"Bearer {scoped.secret}"}
        )
        of_everything = await http.get(
            "/metrics", headers={"Authorization": f"Bearer {everything.secret}"}
        )
    assert anonymous.status_code == 401
    assert of_one_project.status_code == 403
    assert of_one_project.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert of_everything.status_code == 200
    assert "scimeta_requests_total" in of_everything.text


# `scimeta serve --workers 2`, a real process tree


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(
    database_url: str, *arguments: str, **environment: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`scimeta serve` on `database_url` until the block ends (SIGTERM); its output is
    read after it exits."""
    port = _free_port()
    scimeta = shutil.which("scimeta", path=str(Path(sys.executable).parent))
    assert scimeta is not None
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": database_url,
        "SCIMETA_GRAPHIQL": "0",
        **environment,
    }
    process = subprocess.Popen(
        [scimeta, "serve", "--port", str(port), *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        if process.poll() is None:
            process.kill()


async def until(check: Any, what: str, deadline: float = STARTUP_DEADLINE_SECONDS) -> Any:
    """`check()` (awaited if it is a coroutine) until it returns something true (polled,
    bounded)."""
    ends = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < ends:
        with contextlib.suppress(httpx.HTTPError):
            last = check()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        await asyncio.sleep(POLL_SECONDS)
    pytest.fail(f"{what} within {deadline} s (last: {last!r})")


async def fresh_scrape(base: str, path_base: str | None = None, **headers: str) -> Samples:
    """A scrape on a connection of its own: either worker may answer it."""
    async with httpx.AsyncClient(base_url=path_base or base, timeout=MESSAGE_TIMEOUT) as http:
        return await scrape(http, **headers)


async def workers_up(base: str, count: int, **headers: str) -> Samples | None:
    scraped = await fresh_scrape(base, **headers)
    # the serving process itself shows with 0 where it serves a port of its own
    pids = {
        dict(labels).get("pid")
        for (name, labels), up in scraped.items()
        if name == "scimeta_worker_up" and up == 1
    }
    return scraped if len(pids - {None}) == count else None


async def post_alone(base: str, query: str, **variables: Any) -> httpx.Response:
    """A request on a connection of its own, so that requests spread over the workers."""
    async with httpx.AsyncClient(base_url=base, timeout=MESSAGE_TIMEOUT) as http:
        return await http.post("/graphql", json={"query": query, "variables": variables})


SUBSCRIBE_RUNS = "subscription MetricsWatch { runChanged { sequence event { type } } }"
CREATE_RUN = (
    "mutation MetricsCreate($name: String!) { createRun(input: {name: $name}) { run { id } } }"
)


@pytest.fixture
async def serve_database(databases: DatabaseFactory) -> str:
    return await databases.create()


async def test_two_workers_count_requests_errors_and_subscriptions_together(
    serve_database: str,
) -> None:
    with serving(serve_database, "--workers", "2") as (base, process):
        await until(lambda: workers_up(base, 2), "both workers answered /metrics")
        probe = f"WorkersProbe{uuid.uuid4().hex[:6]}"
        broken = f"WorkersBroken{uuid.uuid4().hex[:6]}"
        answers = await asyncio.gather(
            *(post_alone(base, f"query {probe} {{ __typename }}") for _ in range(20)),
            *(post_alone(base, f"query {broken} {{ nope }}") for _ in range(5)),
        )
        assert sorted(a.status_code for a in answers) == [200] * 20 + [400] * 5
        # whichever worker answers a scrape, it counts what both served
        for _ in range(6):
            scraped = await fresh_scrape(base)
            assert requests_of(scraped, probe, type="query", status="200", code="none") == 20
            assert (
                requests_of(
                    scraped, broken, type="query", status="400", code="GRAPHQL_VALIDATION_FAILED"
                )
                == 5
            )

        ws_url = base.replace("http://", "ws://") + "/graphql"
        async with Subscriber.connect(ws_url) as subscriber:
            operation = await subscriber.subscribe(SUBSCRIBE_RUNS)
            opened = await until(
                lambda: _with(fresh_scrape(base), "scimeta_subscriptions_open", 1),
                "the subscription counted open",
                MESSAGE_TIMEOUT,
            )
            pushed_before = value(opened, "scimeta_subscription_messages_total")
            created = await post_alone(base, CREATE_RUN, name=f"metrics-{uuid.uuid4().hex[:8]}")
            assert "errors" not in created.json(), created.text
            message = await subscriber.next(operation)
            assert message["runChanged"]["event"]["type"] == "created"
            await until(
                lambda: _with(
                    fresh_scrape(base),
                    "scimeta_subscription_messages_total",
                    pushed_before + 1,
                    at_least=True,
                ),
                "the message counted",
                MESSAGE_TIMEOUT,
            )
        await until(
            lambda: _with(fresh_scrape(base), "scimeta_subscriptions_open", 0),
            "the subscription counted closed",
            MESSAGE_TIMEOUT,
        )
        scraped = await fresh_scrape(base)
        assert value(scraped, "scimeta_listener_connected") == 2
        assert requests_of(scraped, "MetricsCreate", type="mutation", status="200") == 1
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)

    assert process.returncode == 0, output
    match = re.search(r"gathered in (\S+)\)", output)
    assert match is not None, output
    # the directory the workers shared is the server's, and went with it
    assert not Path(match[1]).exists()


async def _with(
    scraping: Any, name: str, expected: float, at_least: bool = False
) -> Samples | None:
    scraped: Samples = await scraping
    found = value(scraped, name)
    return scraped if (found >= expected if at_least else found == expected) else None


async def test_a_metrics_port_of_their_own_with_its_token(serve_database: str) -> None:
    metrics_port = _free_port()
    metrics_base = f"http://127.0.0.1:{metrics_port}"
    token = {"Authorization": "Bearer port-secret"}
    with serving(
        serve_database,
        "--workers",
        "2",
        "--metrics-port",
        str(metrics_port),
        SCIMETA_METRICS_TOKEN="port-secret",
    ) as (base, process):
        await until(lambda: workers_up(metrics_base, 2, **token), "both workers seen")
        name = f"PortProbe{uuid.uuid4().hex[:6]}"
        answers = await asyncio.gather(
            *(post_alone(base, f"query {name} {{ __typename }}") for _ in range(6))
        )
        assert [a.status_code for a in answers] == [200] * 6
        async with httpx.AsyncClient(timeout=MESSAGE_TIMEOUT) as http:
            on_the_api = await http.get(f"{base}/metrics")
            without = await http.get(f"{metrics_base}/metrics")
            wrong = await http.get(
                f"{metrics_base}/metrics", headers={"Authorization": "Bearer port-secrets"}
            )
        scraped = await fresh_scrape(metrics_base, **token)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)

    assert on_the_api.status_code == 404
    assert without.status_code == wrong.status_code == 401
    assert requests_of(scraped, name, type="query", status="200") == 6
    assert process.returncode == 0, output
    assert f"metrics at http://127.0.0.1:{metrics_port}/metrics" in output
