"""Which `Host` and `Origin` a server answers: while it runs open, only loopback and the
allowed hosts, over HTTP and WebSocket alike, so that no page of another site (DNS
rebinding, or a page calling 127.0.0.1 itself) can act as the local admin."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from tests.conftest import DatabaseFactory, started
from tests.live.conftest import MESSAGE_TIMEOUT, STARTUP_TIMEOUT, bound_socket, raw_handshake

from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.hosts import HostCheck, host_name
from scimeta.server.settings import ALLOWED_HOSTS_VARIABLE, Settings

VIEWER = "{ viewer { name isAdmin } }"
ATTACKER = "attacker.example:8765"


async def app_for(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> Starlette:
    return await started(create_app(settings or Settings(), sessionmaker=sessionmaker))


@contextlib.asynccontextmanager
async def client_for(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def post(
    client: httpx.AsyncClient, host: str, origin: str | None = None, token: str | None = None
) -> httpx.Response:
    headers = {"Host": host}
    if origin is not None:
        headers["Origin"] = origin
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json={"query": VIEWER}, headers=headers)


def refusal(response: httpx.Response) -> dict[str, Any]:
    """The one error of a refused request; it has no data."""
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert isinstance(error, dict)
    return error


async def make_token(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    async with sessionmaker() as session:
        made = await create_token(session, name="viewer", grants=[Grant(Role.VIEWER)])
        await session.commit()
    return made.secret


async def test_an_open_server_refuses_a_host_that_is_not_loopback(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with client_for(await app_for(sessionmaker)) as client:
        # a page of attacker.example whose name now resolves to 127.0.0.1
        rebound = await post(client, ATTACKER, origin=f"http://{ATTACKER}")
        foreign = await post(client, "example.org")
        graphiql = await client.get("/graphql", headers={"Host": ATTACKER, "Accept": "text/html"})
        health = await client.get("/healthz", headers={"Host": ATTACKER})

    assert rebound.status_code == 421
    error = refusal(rebound)
    assert error["extensions"] == {"code": "HOST_NOT_ALLOWED"}
    assert "'attacker.example:8765'" in error["message"]
    assert "--allowed-host attacker.example" in error["message"]
    assert "runs open" in error["message"]
    assert foreign.status_code == 421
    assert graphiql.status_code == 421
    # probes address servers by names of their own
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


async def test_an_open_server_answers_loopback_hosts_on_any_port(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    hosts = ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:8765", "[::1]:8765"]
    async with client_for(await app_for(sessionmaker)) as client:
        answers = [await post(client, host) for host in hosts]
        # a page served from this machine, on another port
        local_page = await post(client, "127.0.0.1:8765", origin="http://localhost:3000")

    for answer in [*answers, local_page]:
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["viewer"] == {"name": "local", "isAdmin": True}


async def test_an_open_server_refuses_a_page_of_another_origin(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with client_for(await app_for(sessionmaker)) as client:
        cross_site = await post(client, "127.0.0.1:8765", origin="https://attacker.example")
        sandboxed = await post(client, "127.0.0.1:8765", origin="null")

    for refused in (cross_site, sandboxed):
        assert refused.status_code == 403
        error = refusal(refused)
        assert error["extensions"] == {"code": "ORIGIN_NOT_ALLOWED"}
    assert "'https://attacker.example'" in refusal(cross_site)["message"]


async def test_an_allowed_host_is_answered_as_loopback_is(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    settings = Settings(allowed_hosts=("Lab-Laptop.local", "[fd00::5]"))
    async with client_for(await app_for(sessionmaker, settings)) as client:
        named = await post(client, "lab-laptop.local:8000", origin="http://lab-laptop.local:8000")
        address = await post(client, "[fd00::5]:8000")
        other = await post(client, ATTACKER)
        other_origin = await post(client, "lab-laptop.local", origin="http://attacker.example")

    assert named.status_code == 200, named.text
    assert named.json()["data"]["viewer"]["isAdmin"] is True
    assert address.status_code == 200, address.text
    assert other.status_code == 421
    assert "Lab-Laptop.local" in refusal(other)["message"]
    assert other_origin.status_code == 403


async def test_with_tokens_host_and_origin_are_checked_only_against_allowed_hosts(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    secret = await make_token(sessionmaker)
    async with client_for(await app_for(sessionmaker)) as client:
        any_host = await post(client, ATTACKER, origin="https://elsewhere.example", token=secret)
        no_token = await post(client, ATTACKER)
    settings = Settings(allowed_hosts=("api.lab.example",))
    async with client_for(await app_for(sessionmaker, settings)) as client:
        allowed = await post(
            client, "api.lab.example", origin="https://elsewhere.example", token=secret
        )
        other = await post(client, ATTACKER, token=secret)

    # a token is no ambient credential: a page cannot make the browser send it
    assert any_host.status_code == 200, any_host.text
    assert any_host.json()["data"]["viewer"]["isAdmin"] is False
    assert no_token.status_code == 401
    assert allowed.status_code == 200, allowed.text
    assert other.status_code == 421
    error = refusal(other)
    assert error["extensions"] == {"code": "HOST_NOT_ALLOWED"}
    assert "runs open" not in error["message"]


async def test_a_server_stops_checking_hosts_once_a_token_is_made(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    app = await app_for(sessionmaker)
    async with client_for(app) as client:
        before = await post(client, ATTACKER)
        secret = await make_token(sessionmaker)
        # as the hub's listener does when it hears of the token
        app.state.authenticator.tokens_changed()
        with_token = await post(client, ATTACKER, token=secret)
        without = await post(client, ATTACKER)

    assert before.status_code == 421
    assert with_token.status_code == 200, with_token.text
    assert with_token.json()["data"]["viewer"]["isAdmin"] is False
    assert without.status_code == 401


async def test_while_the_database_cannot_say_how_the_server_runs_hosts_are_checked() -> None:
    # nothing listens on port 1 of loopback
    engine = create_engine("postgresql://postgres@127.0.0.1:1/scimeta")
    app = create_app(Settings(), sessionmaker=create_sessionmaker(engine))
    try:
        async with client_for(app) as client:
            foreign = await post(client, ATTACKER)
            loopback = await post(client, "localhost")
    finally:
        await engine.dispose()

    assert foreign.status_code == 421
    assert refusal(foreign)["extensions"] == {"code": "HOST_NOT_ALLOWED"}
    # passed on, and told to retry by the application
    assert loopback.status_code == 503
    assert refusal(loopback)["extensions"]["reason"] == "DATABASE_UNREACHABLE"


async def test_an_open_server_refuses_a_websocket_handshake_for_a_foreign_host_or_page(
    databases: DatabaseFactory,
) -> None:
    engine = await databases.migrated_engine()
    settings = Settings(lease_sweep_seconds=0, allowed_hosts=("lab-laptop.local",))
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        rebound = await raw_handshake(port, ATTACKER, origin=f"http://{ATTACKER}")
        cross_site = await raw_handshake(
            port, f"127.0.0.1:{port}", origin="https://attacker.example"
        )
        loopback = await raw_handshake(port, f"127.0.0.1:{port}", origin=f"http://127.0.0.1:{port}")
        allowed = await raw_handshake(port, f"lab-laptop.local:{port}")
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STARTUP_TIMEOUT)
        finally:
            sock.close()
            await engine.dispose()

    status, body = rebound
    assert status.startswith("HTTP/1.1 421 ")
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "HOST_NOT_ALLOWED"}
    status, body = cross_site
    assert status.startswith("HTTP/1.1 403 ")
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "ORIGIN_NOT_ALLOWED"}
    assert loopback[0].startswith("HTTP/1.1 101 ")
    assert allowed[0].startswith("HTTP/1.1 101 ")


async def test_a_websocket_is_closed_unaccepted_where_no_response_can_refuse_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A server without the WebSocket denial response extension gets a close before
    accepting, which it answers with 403 instead of 101."""
    app = await app_for(sessionmaker)
    reached: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    check = HostCheck(inner, authenticator=app.state.authenticator)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [(b"host", ATTACKER.encode())],
        "app": app,
    }
    await check(scope, receive, send)
    await check({**scope, "headers": [(b"host", b"localhost:8765")]}, receive, send)

    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == ["/graphql"]


async def test_serve_answers_the_hosts_given_with_allowed_host(
    databases: DatabaseFactory, unused_tcp_port: int
) -> None:
    """`--allowed-host` reaches the worker application through the environment."""
    url = await databases.create()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scimeta",
        "serve",
        "--port",
        str(unused_tcp_port),
        "--allowed-host",
        "lab-laptop.local",
        "--allowed-host",
        "lab-laptop",
        env={**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    try:
        # uvicorn says so once its socket listens
        while not any("Uvicorn running on" in line for line in output):
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
            assert line, "".join(output)
            output.append(line.decode())
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{unused_tcp_port}", timeout=MESSAGE_TIMEOUT
        ) as client:
            named = await post(client, f"lab-laptop.local:{unused_tcp_port}")
            short = await post(client, "lab-laptop")
            other = await post(client, ATTACKER)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT)

    notice = "localhost, 127.0.0.1, [::1], lab-laptop.local or lab-laptop"
    assert any(line.startswith("scimeta is open: ") and notice in line for line in output)
    assert named.status_code == 200, named.text
    assert named.json()["data"]["viewer"] == {"name": "local", "isAdmin": True}
    assert short.status_code == 200, short.text
    assert other.status_code == 421


def test_allowed_hosts_come_from_a_comma_separated_variable() -> None:
    settings = Settings.from_env({ALLOWED_HOSTS_VARIABLE: " lab-laptop.local, ,10.0.0.5,"})
    assert settings.allowed_hosts == ("lab-laptop.local", "10.0.0.5")
    assert Settings.from_env({}).allowed_hosts == ()


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("[::1]:80", "::1"),
        ("Example.ORG", "example.org"),
        ("", None),
    ],
)
def test_host_names_lose_their_port_brackets_and_case(header: str, name: str | None) -> None:
    assert host_name(header) == name
