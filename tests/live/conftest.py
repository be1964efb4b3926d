"""Fixtures for live changes: servers that really listen on a socket (in this process, or
as separate processes on one database), and a graphql-transport-ws client.

Servers are started on sockets bound before they start: a client may connect at once,
and the kernel holds the connection until the server accepts it, so no test waits for a
server by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect

from scimeta.live.hub import Hub
from scimeta.operation_limits import Limits
from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import Settings
from scimeta.server.websockets import WS_PROTOCOL
from tests.conftest import DatabaseFactory, GraphQLClient

# how long a test waits for a message before it fails (a bound, not a pause)
MESSAGE_TIMEOUT = 20.0
# how long a client waits for a server process to start answering (imports, migrations
# check, the listener's connection)
STARTUP_TIMEOUT = 90.0


@pytest.fixture(scope="session")
async def live_url(databases: DatabaseFactory) -> str:
    return await databases.create()


@pytest.fixture(scope="session")
async def live_engine(live_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(live_url)
    async with engine.begin() as connection:
        await connection.run_sync(run_upgrade)
    yield engine
    await engine.dispose()


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@dataclass
class LiveServer:
    app: Starlette
    port: int

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@contextlib.asynccontextmanager
async def serving(
    engine: AsyncEngine,
    lease_sweep_seconds: float = 0,
    lifespan: str = "on",
    limits: Limits | None = None,
    ws: str = WS_PROTOCOL,
) -> AsyncIterator[LiveServer]:
    """The application served by uvicorn in this event loop; its lease sweeper is off
    unless asked for, so that tests decide when leases expire. Without its lifespan the
    application has no listener or sweeper. `ws`: its WebSocket protocol, the one
    `scimeta serve` uses unless told ("websockets-sansio": uvicorn's own, whose
    connections have no frame writer)."""
    settings = Settings(lease_sweep_seconds=lease_sweep_seconds, limits=limits or Limits())
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_level="warning", ws=ws))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield LiveServer(app, sock.getsockname()[1])
    finally:
        server.should_exit = True
        # bounded: a server stuck in its startup fails the test instead of hanging it
        try:
            await asyncio.wait_for(task, STARTUP_TIMEOUT)
        finally:
            sock.close()


@pytest.fixture
async def live_server(live_engine: AsyncEngine) -> AsyncIterator[LiveServer]:
    async with serving(live_engine) as server:
        yield server


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=MESSAGE_TIMEOUT) as client:
        yield GraphQLClient(client)


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@contextlib.contextmanager
def server_process(database_url: str, **environment: str) -> Iterator[ServerProcess]:
    """`scimeta`'s worker application in a process of its own, as `scimeta serve` starts
    it; its log goes to a pipe the test may read."""
    sock = bound_socket()
    fd = sock.fileno()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SCIMETA_GRAPHIQL": "0",
        **environment,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "scimeta.server.app:app_from_env",
            "--factory",
            "--fd",
            str(fd),
            "--log-level",
            "warning",
        ],
        env=env,
        pass_fds=[fd],
        stderr=subprocess.PIPE,
    )
    try:
        yield ServerProcess(process, sock.getsockname()[1])
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=60)
        sock.close()


async def raw_handshake(port: int, host: str, origin: str | None = None) -> tuple[str, bytes]:
    """Sends a WebSocket handshake for /graphql to 127.0.0.1:`port`, naming `host` (and
    `origin` if given); returns the status line and the body of the server's answer
    (none for a 101)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [
            "GET /graphql HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: graphql-transport-ws",
        ]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MESSAGE_TIMEOUT)
        status, *header_lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await asyncio.wait_for(reader.readexactly(length), MESSAGE_TIMEOUT)
        return status, body
    finally:
        writer.close()


class Subscriber:
    """One graphql-transport-ws connection. `subscribe` starts an operation; `next` waits
    for its next result, `complete` for its end."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._ids = 0
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, url: str, payload: dict[str, Any] | None = None
    ) -> AsyncIterator[Subscriber]:
        async with connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            open_timeout=STARTUP_TIMEOUT,
        ) as websocket:
            await websocket.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
            ack = json.loads(await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT))
            assert ack["type"] == "connection_ack", ack
            subscriber = cls(websocket)
            try:
                yield subscriber
            finally:
                subscriber._reader.cancel()

    async def subscribe(self, query: str, **variables: Any) -> str:
        self._ids += 1
        operation_id = str(self._ids)
        self._queues[operation_id] = asyncio.Queue()
        message = {"query": query, "variables": variables}
        await self.websocket.send(
            json.dumps({"id": operation_id, "type": "subscribe", "payload": message})
        )
        return operation_id

    async def message(self, operation_id: str) -> dict[str, Any]:
        return await asyncio.wait_for(self._queues[operation_id].get(), MESSAGE_TIMEOUT)

    async def next(self, operation_id: str) -> dict[str, Any]:
        """The data of the operation's next result; fails on errors or its end."""
        message = await self.message(operation_id)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message["payload"]
        data: dict[str, Any] = message["payload"]["data"]
        return data

    def pending(self, operation_id: str) -> int:
        return self._queues[operation_id].qsize()

    async def stop(self, operation_id: str) -> None:
        await self.websocket.send(json.dumps({"id": operation_id, "type": "complete"}))

    async def _read(self) -> None:
        async for raw in self.websocket:
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.websocket.send(json.dumps({"type": "pong"}))
            elif "id" in message:
                self._queues[message["id"]].put_nowait(message)
