"""Pages of other origins (CORS): only the origins given with --cors-origin have their
preflights answered and their responses carry the CORS headers; a preflight of any other
origin is refused with a code and no CORS header; a WebSocket handshake of another origin
is refused unless it is listed, whether the server runs open or with tokens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tests.conftest import DatabaseFactory, started
from tests.live.conftest import STARTUP_TIMEOUT, bound_socket, raw_handshake

from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.cli import main
from scimeta.server.cors import normalize_origins
from scimeta.server.database import create_sessionmaker
from scimeta.server.settings import CORS_ORIGINS_VARIABLE, Settings

APP = "https://app.lab.example"
OTHER = "https://attacker.example"
LOCAL_PAGE = "http://localhost:3000"
VIEWER = {"query": "{ viewer { name isAdmin } }"}


def preflight_headers(origin: str, method: str = "POST", headers: str = "") -> dict[str, str]:
    preflight = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        preflight["Access-Control-Request-Headers"] = headers
    return preflight


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    }


def refusal_code(response: httpx.Response) -> str:
    [error] = response.json()["errors"]
    code: str = error["extensions"]["code"]
    return code


@contextlib.asynccontextmanager
async def client_for(
    sessionmaker: async_sessionmaker[AsyncSession], origins: tuple[str, ...]
) -> AsyncIterator[httpx.AsyncClient]:
    app = await started(create_app(Settings(cors_origins=origins), sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def make_token(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    async with sessionmaker() as session:
        made = await create_token(session, name="viewer", grants=[Grant(Role.VIEWER)])
        await session.commit()
    return made.secret


@pytest.mark.parametrize("with_tokens", [False, True], ids=["open", "tokens"])
async def test_a_listed_origin_gets_its_preflight_answered_and_the_cors_headers(
    sessionmaker: async_sessionmaker[AsyncSession], with_tokens: bool
) -> None:
    headers = {}
    if with_tokens:
        headers["Authorization"] = f"Bearer {await make_token(sessionmaker)}"
    async with client_for(sessionmaker, (APP, "http://localhost:5173")) as client:
        preflight = await client.options(
            "/graphql",
            headers=preflight_headers(APP, "POST", "Content-Type, Authorization, Scimeta-Report"),
        )
        get_preflight = await client.options(
            "/graphql", headers=preflight_headers(APP, "GET", "x-request-id")
        )
        posted = await client.post("/graphql", json=VIEWER, headers={**headers, "Origin": APP})
        refused = await client.post(
            "/graphql",
            content=json.dumps(VIEWER),
            headers={**headers, "Origin": APP, "Content-Type": "text/plain"},
        )

    assert preflight.status_code == 204, preflight.text
    assert cors_headers(preflight) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "content-type, authorization, x-request-id, scimeta-report",
        "access-control-max-age": "600",
    }
    assert preflight.headers["vary"] == "Origin"
    assert get_preflight.status_code == 204
    assert posted.status_code == 200, posted.text
    # while open, a listed origin's pages act as the local user: the operator's choice
    assert posted.json()["data"]["viewer"]["isAdmin"] is not with_tokens
    assert cors_headers(posted) == {
        "access-control-allow-origin": APP,
        "access-control-expose-headers": "Retry-After, WWW-Authenticate",
    }
    assert posted.headers["vary"] == "Accept, Origin"
    assert "access-control-allow-credentials" not in posted.headers
    # the CSRF rule holds for listed origins too, and its refusal is readable by the page
    assert refused.status_code == 403
    assert refusal_code(refused) == "CSRF_REFUSED"
    assert cors_headers(refused)["access-control-allow-origin"] == APP


@pytest.mark.parametrize("with_tokens", [False, True], ids=["open", "tokens"])
async def test_a_preflight_of_another_origin_is_refused_without_cors_headers(
    sessionmaker: async_sessionmaker[AsyncSession], with_tokens: bool
) -> None:
    headers = {}
    if with_tokens:
        headers["Authorization"] = f"Bearer {await make_token(sessionmaker)}"
    async with client_for(sessionmaker, (APP,)) as client:
        other = await client.options("/graphql", headers=preflight_headers(OTHER))
        # a page of this machine on another port is no listed origin either
        local_page = await client.options("/graphql", headers=preflight_headers(LOCAL_PAGE))
        method = await client.options("/graphql", headers=preflight_headers(APP, "PUT"))
        header = await client.options(
            "/graphql", headers=preflight_headers(APP, "POST", "content-type, x-custom")
        )
        # a simple request is sent without asking: answered, but the page cannot read it
        unlisted_get = await client.get(
            "/graphql", params=VIEWER, headers={**headers, "Origin": LOCAL_PAGE}
        )

    for refused in (other, local_page):
        assert refused.status_code == 403
        assert refusal_code(refused) == "ORIGIN_NOT_ALLOWED"
        assert cors_headers(refused) == {}
    assert "--cors-origin" in other.json()["errors"][0]["message"]
    for refused in (method, header):
        assert refused.status_code == 403
        assert refusal_code(refused) == "CORS_PREFLIGHT_REFUSED"
        assert cors_headers(refused) == {}
    assert "x-custom" in header.json()["errors"][0]["message"]
    assert unlisted_get.status_code == 200, unlisted_get.text
    assert cors_headers(unlisted_get) == {}
    assert unlisted_get.headers["vary"] == "Accept, Origin"


async def test_without_listed_origins_every_preflight_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with client_for(sessionmaker, ()) as client:
        preflight = await client.options("/graphql", headers=preflight_headers(LOCAL_PAGE))
        # an OPTIONS that is no preflight is the method /graphql does not serve
        options = await client.options("/graphql")
        posted = await client.post("/graphql", json=VIEWER, headers={"Origin": LOCAL_PAGE})

    assert preflight.status_code == 403
    assert refusal_code(preflight) == "ORIGIN_NOT_ALLOWED"
    assert cors_headers(preflight) == {}
    assert options.status_code == 405
    assert refusal_code(options) == "METHOD_NOT_ALLOWED"
    assert posted.status_code == 200
    assert cors_headers(posted) == {}
    assert posted.headers["vary"] == "Accept"


async def test_an_open_server_admits_a_listed_origin_and_refuses_others(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """HostCheck refuses pages of other hosts while the server runs open; a listed CORS
    origin is the one exception."""
    async with client_for(sessionmaker, (APP,)) as client:
        listed = await client.post("/graphql", json=VIEWER, headers={"Origin": APP})
        other = await client.post("/graphql", json=VIEWER, headers={"Origin": OTHER})
        same_host_other_scheme = await client.post(
            "/graphql", json=VIEWER, headers={"Origin": "http://app.lab.example"}
        )

    assert listed.status_code == 200
    assert listed.json()["data"]["viewer"] == {"name": "local", "isAdmin": True}
    for refused in (other, same_host_other_scheme):
        assert refused.status_code == 403
        assert refusal_code(refused) == "ORIGIN_NOT_ALLOWED"
        assert cors_headers(refused) == {}


# --- WebSocket handshakes -----------------------------------------------------------------


async def handshake(port: int, origin: str | None) -> tuple[str, bytes]:
    """A WebSocket handshake addressed to the server's own name, from `origin`."""
    return await raw_handshake(port, f"127.0.0.1:{port}", origin)


@contextlib.asynccontextmanager
async def serving(engine: AsyncEngine, origins: tuple[str, ...]) -> AsyncIterator[int]:
    settings = Settings(lease_sweep_seconds=0, cors_origins=origins)
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STARTUP_TIMEOUT)
        finally:
            sock.close()


def refused_code(answer: tuple[str, bytes]) -> Any:
    status, body = answer
    assert status.startswith("HTTP/1.1 403 "), status
    return json.loads(body)["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("with_tokens", [False, True], ids=["open", "tokens"])
async def test_a_websocket_handshake_of_another_origin_is_refused_unless_listed(
    databases: DatabaseFactory, with_tokens: bool
) -> None:
    engine = await databases.migrated_engine()
    try:
        if with_tokens:
            await make_token(create_sessionmaker(engine))
        async with serving(engine, (APP, "http://localhost:5173")) as port:
            listed = await handshake(port, APP)
            listed_local = await handshake(port, "http://LOCALHOST:5173")
            other = await handshake(port, OTHER)
            local_page = await handshake(port, LOCAL_PAGE)
            own = await handshake(port, f"http://127.0.0.1:{port}")
            no_origin = await handshake(port, None)
    finally:
        await engine.dispose()

    for opened in (listed, listed_local, own, no_origin):
        assert opened[0].startswith("HTTP/1.1 101 "), opened
    assert refused_code(other) == "ORIGIN_NOT_ALLOWED"
    assert refused_code(local_page) == "ORIGIN_NOT_ALLOWED"


# --- configuration ------------------------------------------------------------------------


def test_origins_are_normalized_and_anything_else_is_refused() -> None:
    assert normalize_origins(
        ["https://App.Lab.Example:443", "http://localhost:3000/", "https://app.lab.example"]
    ) == ("https://app.lab.example", "http://localhost:3000")
    for bad in ("*", "null", "app.lab.example", "https://app.lab.example/graphql", "ftp://x.org"):
        with pytest.raises(ValueError, match="is not an origin"):
            normalize_origins([bad])
    settings = Settings.from_env({CORS_ORIGINS_VARIABLE: f" {APP}, ,{LOCAL_PAGE},"})
    assert settings.cors_origins == (APP, LOCAL_PAGE)
    with pytest.raises(ValueError, match="is not an origin"):
        create_app(Settings(cors_origins=("*",), database_url="postgresql://localhost/x"))


def test_serve_refuses_an_origin_that_is_not_one(capsys: pytest.CaptureFixture[str]) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["serve", "--cors-origin", "*"])
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert code == 1
    assert "--cors-origin: '*' is not an origin" in capsys.readouterr().err
