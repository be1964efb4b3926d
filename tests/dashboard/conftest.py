"""Fixtures for the dashboard's tests: `scimeta serve --demo` in a process of its own on
a new database, a TCP proxy in front of it whose connections a test can cut (as a
network or a restarting server would), and Debian's chromium driven through
playwright-core (driver.mjs) with every host but the proxy blocked.

The browser test fails, saying what to install, where chromium, Node or playwright-core
is missing: CI installs them (.ci/run), so their absence is an error, not a reason to
skip."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DatabaseFactory

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# bounds, not pauses: how long a server may take to answer /readyz, and a command of the
# browser beyond its own timeout
STARTUP_TIMEOUT = 90.0
COMMAND_SLACK = 15.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DashboardServer:
    process: subprocess.Popen[str]
    port: int
    database_url: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """Runs a document on the server directly (not through the proxy); its data."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@contextlib.asynccontextmanager
async def serving_demo(database_url: str, *arguments: str) -> AsyncIterator[DashboardServer]:
    """`scimeta serve --demo` on the database, answering /readyz; stopped with SIGTERM."""
    port = _free_port()
    scimeta = shutil.which("scimeta", path=str(Path(sys.executable).parent))
    assert scimeta is not None
    environment = {**os.environ, "DATABASE_URL": database_url}
    environment.pop("SCIMETA_DASHBOARD", None)
    process = subprocess.Popen(
        [scimeta, "serve", "--demo", "--port", str(port), *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = DashboardServer(process, port, database_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"scimeta serve exited early:\n{process.communicate()[0]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if loop.time() > deadline:
                    pytest.fail(f"scimeta serve was not ready within {STARTUP_TIMEOUT} s")
                await asyncio.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.communicate, timeout=60)


@pytest.fixture
async def demo_database(databases: DatabaseFactory) -> str:
    return await databases.create()


class Proxy:
    """Forwards 127.0.0.1:<port> to the server, byte for byte. `cut()` drops every
    connection at once (a reset, as a lost network or a crashed server gives) and refuses
    new ones until `resume()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.holding = False
        self.connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.cuts = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.holding = True
        self.cuts += 1
        for client, upstream in list(self.connections):
            client.transport.abort()
            upstream.transport.abort()
        self.connections.clear()

    def resume(self) -> None:
        self.holding = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.holding:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, upstream)
        self.connections.add(pair)
        try:
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        finally:
            self.connections.discard(pair)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class BrowserError(AssertionError):
    """A command the browser could not carry out (a wait that timed out, a missing
    element); the message is playwright's."""


class Browser:
    """Debian's chromium, through driver.mjs: `await browser.call("goto", url=...)`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def call(self, command: str, timeout: float = 10.0, **arguments: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command == "wait":
            arguments["timeout"] = int(timeout * 1000)
        line = json.dumps({"command": command, **arguments}) + "\n"
        self.process.stdin.write(line.encode())
        await self.process.stdin.drain()
        answer_line = await asyncio.wait_for(
            self.process.stdout.readline(), timeout + COMMAND_SLACK
        )
        if not answer_line:
            stderr = await self.process.stderr.read() if self.process.stderr else b""
            raise BrowserError(f"the browser driver exited: {stderr.decode(errors='replace')}")
        answer = json.loads(answer_line)
        if not answer["ok"]:
            raise BrowserError(f"{command} {arguments}: {answer['error']}")
        return answer["result"]

    async def wait(self, selector: str, timeout: float = 10.0, **condition: Any) -> str:
        text: str = await self.call("wait", timeout=timeout, selector=selector, **condition)
        return text


def browser_prerequisites() -> str:
    """The node binary; fails the test, saying what to install, where anything is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Debian's chromium is not installed at {CHROMIUM}: `apt-get install chromium` "
            "(.ci/run installs it). The dashboard's browser test needs it and downloads no "
            "browser."
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: `apt-get install nodejs npm` (.ci/run needs it)")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").exists():
        pytest.fail(f"playwright-core is not installed: run `npm ci` in {HERE} (.ci/run does)")
    return node


@contextlib.asynccontextmanager
async def browsing(allowed_origin: str) -> AsyncIterator[Browser]:
    node = browser_prerequisites()
    process = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        cwd=HERE,
        env={**os.environ, "ALLOWED_ORIGIN": allowed_origin, "CHROMIUM": CHROMIUM},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    browser = Browser(process)
    try:
        yield browser
    finally:
        with contextlib.suppress(Exception):
            await browser.call("close", timeout=10)
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)
