"""The server's log: one JSON line per request with its request id (also in the response's
header), no secrets or variables' values, internal errors once with their id, and a
database outage under steady load summarised in a few lines instead of one per failure."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from tests.conftest import GraphQLClient
from tests.live.conftest import MESSAGE_TIMEOUT
from tests.server.test_metrics import serving, until

from scimeta.server.logs import (
    REQUEST_LOGGER,
    JSONFormatter,
    SummarisingHandler,
)

HEX_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON log lines of a server's output (its other lines are the command line's
    own notices, printed before it serves)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


async def test_a_request_id_round_trips_into_the_json_line_and_the_response_header(
    databases: Any,
) -> None:
    url = await databases.create()
    with serving(url, "--log-format", "json") as (base, process):
        async with httpx.AsyncClient(base_url=base, timeout=MESSAGE_TIMEOUT) as http:
            await until(lambda: _ready(http), "the server ready")
            given = await http.post(
                "/graphql",
                json={
                    "query": "query LogProbe($name: String) { runs(where: {name: {eq: $name}}) "
                    "{ totalCount } }",
                    "variables": {"name": "variable-value-7f3e"},
                },
                headers={"X-Request-ID": "probe-4711"},
            )
            made = await http.post("/graphql", json={"query": "{ __typename }"})
            refused = await http.post(
                "/graphql",
                json={"query": "{ __typename }"},
                headers={"Authorization": "Bearer smt_not-a-real-secret-0000"},
            )
        process.terminate()
        output, _ = process.communicate(timeout=60)

    assert given.status_code == 200, given.text
    assert given.headers["x-request-id"] == "probe-4711"
    made_id = made.headers["x-request-id"]
    assert HEX_ID.fullmatch(made_id)
    lines = json_lines(output)
    # every line the server logged is JSON: its own, uvicorn's, the workers'
    logged = [line for line in output.splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", line)]
    assert logged == [], logged
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    (probe,) = [line for line in lines if line.get("request_id") == "probe-4711"]
    assert probe["logger"] == REQUEST_LOGGER
    assert probe["level"] == "INFO"
    assert probe["operation"] == "LogProbe"
    assert probe["type"] == "query"
    assert probe["status"] == 200
    assert probe["caller"] == "local"
    assert probe["statements"] >= 1
    assert probe["duration_ms"] > 0
    assert datetime.datetime.fromisoformat(probe["time"]).tzinfo is not None
    (other,) = [line for line in lines if line.get("request_id") == made_id]
    assert other["status"] == 200
    (unauthenticated,) = [
        line for line in lines if line.get("request_id") == refused.headers["x-request-id"]
    ]
    assert unauthenticated["status"] == 401
    assert unauthenticated["code"] == "UNAUTHENTICATED"
    # neither secrets nor the values of variables
    assert "variable-value-7f3e" not in output
    assert "not-a-real-secret" not in output


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


@contextlib.contextmanager
def json_log() -> Iterator[io.StringIO]:
    """The process's log, as the server writes it with `--log-format json`, into a
    buffer."""
    buffer = io.StringIO()
    handler = SummarisingHandler(buffer)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


async def test_an_internal_error_is_logged_once_with_its_id(
    graphql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("the code's insides")

    monkeypatch.setattr("scimeta.schema.pagination.root_page", broken)
    monkeypatch.setattr("scimeta.planner.execute.CompiledRead.run", broken)
    with json_log() as buffer:
        response = await graphql.http.post(
            "/graphql", json={"query": "query Broken { runs { nodes { id } } }"}
        )
    error_id = response.json()["errors"][0]["extensions"]["errorId"]
    lines = json_lines(buffer.getvalue())
    request_id = response.headers["x-request-id"]
    mentioning = [line for line in lines if error_id in json.dumps(line)]
    (error,) = [line for line in mentioning if line["logger"] == "scimeta.errors"]
    (request,) = [line for line in mentioning if line["logger"] == REQUEST_LOGGER]
    assert error["error_id"] == error_id
    assert error["request_id"] == request_id
    assert "RuntimeError: the code's insides" in error["exception"]
    assert request["request_id"] == request_id
    assert request["code"] == "INTERNAL_SERVER_ERROR"
    assert request["error_id"] == error_id
    assert "exception" not in request


def test_repeated_failures_are_summarised_and_others_written() -> None:
    buffer = io.StringIO()
    handler = SummarisingHandler(buffer, window_seconds=60)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("scimeta.tests.summaries")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for attempt in range(100):
            logger.warning("database unreachable (attempt %d)", attempt)
        for number in range(3):
            logger.info("line %d", number)
        handler.flush_summaries(everything=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        handler.close()
    lines = json_lines(buffer.getvalue())
    assert [line["message"] for line in lines] == [
        "database unreachable (attempt 0)",
        "line 0",
        "line 1",
        "line 2",
        "database unreachable (attempt 0) (repeated 99 times in the last 1 s)",
    ]
    assert lines[-1]["repeated"] == 99
    assert lines[-1]["level"] == "WARNING"


# a database outage at steady load


class CuttableProxy:
    """A TCP port forwarding to the database, which a test can cut: it closes every
    connection and refuses new ones, as a database that went away does, until resumed."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self.target, str):
            return await asyncio.open_unix_connection(self.target)
        return await asyncio.open_connection(*self.target)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await self._connect()
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def stop(self) -> None:
        if self._server is not None:
            await self.cut()


def proxied(url: str, port: int) -> tuple[str, tuple[str, int] | str]:
    """The URL of the database at `url` through a proxy on `port`, and where the proxy
    forwards to (a TCP address, or the path of a Unix socket)."""
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        target: tuple[str, int] | str = str(Path(socket_dir) / f".s.PGSQL.{parsed.port or 5432}")
    else:
        target = (parsed.host or "127.0.0.1", parsed.port or 5432)
    through = parsed.set(
        drivername="postgresql", host="127.0.0.1", port=port, query={}
    ).render_as_string(hide_password=False)
    return through, target


@contextlib.asynccontextmanager
async def proxy_to(url: str) -> AsyncIterator[tuple[CuttableProxy, str]]:
    proxy = CuttableProxy(("127.0.0.1", 0))
    await proxy.start()
    through, proxy.target = proxied(url, proxy.port)
    try:
        yield proxy, through
    finally:
        await proxy.stop()


OUTAGE_SECONDS = 3.0
# a steady load: a read every 20 ms (50 a second)
PACE_SECONDS = 0.02
READ = "query OutageRead { runs(first: 1) { nodes { id } } }"


async def test_a_database_outage_at_steady_load_writes_a_few_lines(databases: Any) -> None:
    url = await databases.create()
    statuses: list[tuple[float, int]] = []
    async with proxy_to(url) as (proxy, through):
        with serving(through, "--log-format", "json", SCIMETA_LOG_REPEAT_SECONDS="2") as (
            base,
            process,
        ):
            async with httpx.AsyncClient(base_url=base, timeout=MESSAGE_TIMEOUT) as http:
                await until(lambda: _ready(http), "the server ready")
                stopping = asyncio.Event()

                async def load() -> None:
                    while not stopping.is_set():
                        try:
                            status = (await http.post("/graphql", json={"query": READ})).status_code
                        except httpx.HTTPError:
                            status = 0
                        statuses.append((time.time(), status))
                        # not synchronisation: the load's pace
                        await asyncio.sleep(PACE_SECONDS)

                task = asyncio.create_task(load())
                try:
                    await until(lambda: _served(statuses, 0, 20), "the load served", 30)
                    cut_at = time.time()
                    await proxy.cut()
                    # the outage lasts its time: this is the fault being injected
                    await asyncio.sleep(OUTAGE_SECONDS)
                    await proxy.start()
                    resumed_at = time.time()
                    back_at = await until(
                        lambda: _served(statuses, resumed_at, 1), "served again", 30
                    )
                finally:
                    stopping.set()
                    await task
            process.terminate()
            # the proxy serves the server's last statements from this event loop
            output, _ = await asyncio.to_thread(process.communicate, timeout=60)

    during = [(at, status) for at, status in statuses if cut_at <= at < resumed_at]
    failed = [status for _, status in during if status != 200]
    # the load went on, and met the outage
    assert len(during) >= 40, during
    assert len(failed) >= 30, during
    assert set(failed) <= {503}, failed
    lines = json_lines(output)

    def at(line: dict[str, Any]) -> float:
        return datetime.datetime.fromisoformat(line["time"]).timestamp()

    outage_lines = [line for line in lines if cut_at <= at(line) <= back_at]
    summaries = [line for line in lines if "repeated" in line]
    counted = {id(line) for line in outage_lines} | {id(line) for line in summaries}
    assert len(counted) < 50, "\n".join(json.dumps(line) for line in outage_lines + summaries)
    # said, not hidden: the first failed request in full, then how often it repeated
    unavailable = [
        line for line in outage_lines if line.get("status") == 503 and "repeated" not in line
    ]
    assert unavailable, outage_lines
    assert unavailable[0]["code"] == "SERVICE_UNAVAILABLE"
    assert sum(line["repeated"] for line in summaries if line.get("status") == 503) >= (
        len(failed) - len(unavailable)
    )


def _served(statuses: list[tuple[float, int]], since: float, count: int) -> float | None:
    """When the `count`th answer with 200 since `since` came, if it did."""
    served = [at for at, status in statuses if at >= since and status == 200]
    return served[count - 1] if len(served) >= count else None


def test_proxied_urls_point_at_the_proxy() -> None:
    through, target = proxied("postgresql://postgres@/scimeta?host=/run/pg", 6543)
    assert target == "/run/pg/.s.PGSQL.5432"
    assert make_url(through).port == 6543
    assert make_url(through).database == "scimeta"
    _, tcp = proxied(f"postgresql://postgres@127.0.0.1:5433/db{uuid.uuid4().hex[:4]}", 1)
    assert tcp == ("127.0.0.1", 5433)
