"""Slow clients against a real uvicorn server on a free port: connections that never finish
their request head are closed at the head deadline (408 if they sent part of one) while
other clients are served as fast as before, a body that stalls gets 408
`REQUEST_TIMEOUT`, and a slow body that keeps coming is served whole."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp
from tests.conftest import started
from websockets.asyncio.client import connect

from scimeta.server.app import create_app
from scimeta.server.settings import Settings
from scimeta.server.timeouts import (
    BODY_TIMEOUT_VARIABLE,
    DEFAULT_BODY_TIMEOUT_SECONDS,
    DEFAULT_HEAD_TIMEOUT_SECONDS,
    HEAD_TIMEOUT_VARIABLE,
    REQUEST_TIMEOUT,
    BodyTimeoutMiddleware,
    HeadTimeoutHttpToolsProtocol,
    body_timeout_from_env,
    head_timeout_from_env,
    head_timeout_protocol,
)

HEAD_SECONDS = 1.0
BODY_SECONDS = 1.0
# how late a deadline may act on a shared, busy machine
MARGIN_SECONDS = 1.5
# how early: the timer's own granularity
EARLY_SECONDS = 0.05
SLOW_CONNECTIONS = 100
# uvicorn's own deadline between requests, far beyond the head deadline, so that what
# closes a connection in these tests is the head deadline
KEEP_ALIVE_SECONDS = 60
PARTIAL_HEAD = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
COUNT_STUDIES = "{ studies { totalCount } }"
Http = Literal["httptools", "h11"]
PROTOCOLS: list[Http] = ["httptools", "h11"]


@dataclass
class Served:
    server: uvicorn.Server
    port: int

    @property
    def connections(self) -> int:
        return len(self.server.server_state.connections)


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(SLOW_CONNECTIONS * 2)
    return sock


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, http: type[asyncio.Protocol] | str) -> AsyncIterator[Served]:
    """`app` under a uvicorn server in this event loop. Its socket listens before the
    server starts, so a client may connect at once: the kernel holds the connection until
    the server accepts it."""
    sock = bound_socket()
    config = uvicorn.Config(
        app,
        http=http,
        lifespan="off",
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=5,
    )
    config.load()
    server = uvicorn.Server(config)
    serve = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield Served(server, sock.getsockname()[1])
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(serve, 10)
        finally:
            sock.close()


@pytest.fixture
async def app(sessionmaker: async_sessionmaker[AsyncSession]) -> ASGIApp:
    """The real application, with the body deadline around it."""
    application = await started(create_app(Settings(), sessionmaker=sessionmaker))
    return BodyTimeoutMiddleware(application, seconds=BODY_SECONDS)


@contextlib.asynccontextmanager
async def connected(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def post_head(body: bytes, *, close: bool = True) -> bytes:
    return (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%s\r\n" % (len(body), b"Connection: close\r\n" if close else b"")
    )


def graphql_body(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), headers, body)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One response, read by its Content-Length (the connection may stay open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    response = parse_response(head)
    response.body = await reader.readexactly(int(response.headers["content-length"]))
    return response


async def until_closed(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection, within `seconds`."""
    async with asyncio.timeout(seconds):
        return await reader.read()


async def timed_request(port: int, query: str) -> float:
    """Seconds from connecting to the whole answer of one normal request, which must
    succeed."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    body = graphql_body(query)
    async with connected(port) as (reader, writer):
        writer.write(post_head(body) + body)
        response = parse_response(await until_closed(reader, 10))
    elapsed = loop.time() - began
    assert response.status == 200, response.body
    assert "errors" not in response.json(), response.body
    return elapsed


async def median_latency(port: int, requests: int) -> float:
    return statistics.median([await timed_request(port, COUNT_STUDIES) for _ in range(requests)])


def assert_request_timeout(response: Response, mentions: str) -> None:
    assert response.status == 408, response
    assert response.headers["connection"] == "close", response.headers
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == REQUEST_TIMEOUT, error
    assert mentions in error["message"], error


@contextlib.contextmanager
def within_deadline(seconds: float) -> Iterator[None]:
    """Requires the block to take at least `seconds` (less the timer's granularity) and
    at most `seconds` plus the margin: a deadline that acts, and acts no sooner."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    yield
    elapsed = loop.time() - began
    assert seconds - EARLY_SECONDS <= elapsed <= seconds + MARGIN_SECONDS, elapsed


# the request head


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_partial_heads_are_closed_at_the_deadline_while_other_requests_keep_their_latency(
    app: ASGIApp, http: Http
) -> None:
    async with serving(app, head_timeout_protocol(HEAD_SECONDS, http)) as served:
        await timed_request(served.port, COUNT_STUDIES)  # warms up the application
        baseline = await median_latency(served.port, 10)

        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            opened = loop.time()
            slow = [
                await stack.enter_async_context(connected(served.port))
                for _ in range(SLOW_CONNECTIONS)
            ]
            for _, writer in slow:
                writer.write(PARTIAL_HEAD)
            # the server has accepted them all (a bounded wait for what it reports)
            while served.connections < SLOW_CONNECTIONS:
                assert loop.time() < opened + HEAD_SECONDS, "the server did not take them all"
                await asyncio.sleep(0.01)

            meanwhile = await median_latency(served.port, 10)
            # the measurement is worth something only if it was made while they were held
            assert served.connections >= SLOW_CONNECTIONS
            assert loop.time() < opened + HEAD_SECONDS

            async def closed_after(reader: asyncio.StreamReader) -> tuple[float, bytes]:
                sent = await until_closed(reader, HEAD_SECONDS + MARGIN_SECONDS + 1)
                return loop.time() - opened, sent

            closes = await asyncio.gather(*(closed_after(reader) for reader, _ in slow))

        print(
            f"{http}: median latency {baseline * 1000:.1f} ms alone, {meanwhile * 1000:.1f} ms "
            f"beside {SLOW_CONNECTIONS} partial heads; they closed after "
            f"{min(t for t, _ in closes):.2f}-{max(t for t, _ in closes):.2f} s"
        )
        assert meanwhile < 5 * baseline + 0.05, (baseline, meanwhile)
        for elapsed, sent in closes:
            assert HEAD_SECONDS - EARLY_SECONDS <= elapsed <= HEAD_SECONDS + MARGIN_SECONDS
            assert_request_timeout(parse_response(sent), HEAD_TIMEOUT_VARIABLE)
        assert served.connections == 0


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_a_head_trickled_a_byte_at_a_time_is_cut_at_the_deadline(
    app: ASGIApp, http: Http
) -> None:
    async with serving(app, head_timeout_protocol(HEAD_SECONDS, http)) as served:
        async with connected(served.port) as (reader, writer):

            async def trickle() -> None:
                # the head would take over 10 s at this pace; each byte must not buy time
                for byte in PARTIAL_HEAD:
                    writer.write(bytes([byte]))
                    await asyncio.sleep(0.2)

            sending = asyncio.create_task(trickle())
            try:
                with within_deadline(HEAD_SECONDS):
                    sent = await until_closed(reader, HEAD_SECONDS + MARGIN_SECONDS)
            finally:
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await sending
        assert_request_timeout(parse_response(sent), HEAD_TIMEOUT_VARIABLE)


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(
    app: ASGIApp, http: Http
) -> None:
    async with serving(app, head_timeout_protocol(HEAD_SECONDS, http)) as served:
        body = graphql_body(COUNT_STUDIES)
        async with connected(served.port) as (reader, writer):
            writer.write(post_head(body, close=False) + body)
            first = await read_response(reader)
            assert first.status == 200, first.body
            with within_deadline(HEAD_SECONDS):
                writer.write(PARTIAL_HEAD)
                sent = await until_closed(reader, HEAD_SECONDS + MARGIN_SECONDS)
        assert_request_timeout(parse_response(sent), HEAD_TIMEOUT_VARIABLE)


async def test_the_protocol_uvicorn_imports_by_name_takes_its_deadline_from_the_environment(
    app: ASGIApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HEAD_TIMEOUT_VARIABLE, str(HEAD_SECONDS))
    async with serving(app, "scimeta.server.timeouts:HeadTimeoutProtocol") as served:
        # what uvicorn's "auto" would pick with uvicorn[standard] installed
        assert issubclass(served.server.config.http_protocol_class, HeadTimeoutHttpToolsProtocol)
        async with connected(served.port) as (reader, _):
            with within_deadline(HEAD_SECONDS):
                sent = await until_closed(reader, HEAD_SECONDS + MARGIN_SECONDS)
    # a connection that sent nothing is closed without an answer
    assert sent == b""


def test_the_deadlines_come_from_the_environment_or_their_defaults() -> None:
    assert head_timeout_from_env({}) == DEFAULT_HEAD_TIMEOUT_SECONDS == 10.0
    assert body_timeout_from_env({}) == DEFAULT_BODY_TIMEOUT_SECONDS == 30.0
    assert head_timeout_from_env({HEAD_TIMEOUT_VARIABLE: "2.5"}) == 2.5
    assert body_timeout_from_env({BODY_TIMEOUT_VARIABLE: "0"}) == 0
    with pytest.raises(ValueError, match=HEAD_TIMEOUT_VARIABLE):
        head_timeout_from_env({HEAD_TIMEOUT_VARIABLE: "soon"})
    with pytest.raises(ValueError, match=BODY_TIMEOUT_VARIABLE):
        body_timeout_from_env({BODY_TIMEOUT_VARIABLE: "-1"})
    with pytest.raises(ValueError, match="0 or more"):
        head_timeout_protocol(float("nan"))


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_a_websocket_outlives_the_head_deadline(app: ASGIApp, http: Http) -> None:
    async with (
        serving(app, head_timeout_protocol(HEAD_SECONDS, http)) as served,
        connect(
            f"ws://127.0.0.1:{served.port}/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ) as websocket,
    ):
        await websocket.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await websocket.recv())["type"] == "connection_ack"
        # a deadline that must not act can only be seen not acting once it is past: the
        # handshake's head deadline would have closed the socket by now
        await asyncio.sleep(HEAD_SECONDS + 0.5)
        await websocket.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(MARGIN_SECONDS):
            assert json.loads(await websocket.recv())["type"] == "pong"


# the request body


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_a_body_that_stalls_midway_gets_408_and_the_connection_closes(
    app: ASGIApp, http: Http
) -> None:
    async with serving(app, head_timeout_protocol(HEAD_SECONDS, http)) as served:
        body = graphql_body(COUNT_STUDIES)
        async with connected(served.port) as (reader, writer):
            # kept alive as far as the client is concerned: the server must close it
            writer.write(post_head(body, close=False) + body[: len(body) // 2])
            with within_deadline(BODY_SECONDS):
                sent = await until_closed(reader, BODY_SECONDS + MARGIN_SECONDS)
        assert_request_timeout(parse_response(sent), BODY_TIMEOUT_VARIABLE)
        assert served.connections == 0


@pytest.mark.parametrize("http", PROTOCOLS)
async def test_a_slow_body_that_keeps_coming_is_served_whole(app: ASGIApp, http: Http) -> None:
    async with serving(app, head_timeout_protocol(HEAD_SECONDS, http)) as served:
        body = graphql_body(COUNT_STUDIES)
        loop = asyncio.get_running_loop()
        async with connected(served.port) as (reader, writer):
            began = loop.time()
            writer.write(post_head(body))
            pieces = 6
            size = -(-len(body) // pieces)
            for start in range(0, len(body), size):
                # each pause well inside the deadline, all of them together well past both
                await asyncio.sleep(BODY_SECONDS * 0.4)
                writer.write(body[start : start + size])
            response = parse_response(await until_closed(reader, 10))
            took = loop.time() - began
        assert took > max(HEAD_SECONDS, BODY_SECONDS) * 2
        assert response.status == 200, response.body
        assert response.json()["data"]["studies"]["totalCount"] >= 0
