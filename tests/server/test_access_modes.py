"""How a server decides who may call it: open on loopback without tokens, refusing to
start open elsewhere, tokens once one exists; and production mode."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import DatabaseFactory, started

from scimeta.auth.identity import AccessMode, OpenServerRefused, access_mode
from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.settings import Settings

INTROSPECTION = "{ __schema { queryType { name } } }"
MISSPELT = "{ projects { nodes { nme } } }"


async def client_for(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> httpx.AsyncClient:
    app = await started(create_app(settings or Settings(), sessionmaker=sessionmaker))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def token(sessionmaker: async_sessionmaker[AsyncSession], role: Role) -> str:
    async with sessionmaker() as session:
        made = await create_token(session, name=role.value.lower(), grants=[Grant(role)])
        await session.commit()
    return made.secret


async def post(client: httpx.AsyncClient, query: str, secret: str | None = None) -> Any:
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    return await client.post(
        "/graphql",
        json={"query": query},
        headers={"Accept": "application/graphql-response+json", **headers},
    )


async def test_on_loopback_without_tokens_the_server_runs_open(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        assert await access_mode(session, "127.0.0.1") is AccessMode.OPEN
        assert await access_mode(session, "::1") is AccessMode.OPEN
        with pytest.raises(OpenServerRefused, match=r"refusing to listen on 0\.0\.0\.0"):
            await access_mode(session, "0.0.0.0")
    async with await client_for(sessionmaker) as client:
        response = await post(client, "{ viewer { name isAdmin } }")
    assert response.json()["data"]["viewer"] == {"name": "local", "isAdmin": True}


async def test_once_a_token_exists_every_request_needs_one(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    secret = await token(sessionmaker, Role.VIEWER)
    async with await client_for(sessionmaker) as client:
        missing = await post(client, "{ viewer { name } }")
        malformed = await client.post(
            "/graphql",
            json={"query": "{ viewer { name } }"},
            headers={"Authorization": f"Basic {secret}"},
        )
        accepted = await post(client, "{ viewer { name } }", secret)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="scimeta"'
    assert missing.json()["errors"][0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "reason": "MISSING",
    }
    assert malformed.status_code == 401
    assert malformed.headers["www-authenticate"].endswith('error="invalid_token"')
    assert malformed.json()["errors"][0]["extensions"]["reason"] == "MALFORMED"
    assert accepted.status_code == 200
    assert accepted.json()["data"]["viewer"]["name"].startswith("viewer (token ")


async def test_serve_refuses_to_listen_beyond_loopback_without_a_token(
    databases: DatabaseFactory,
) -> None:
    url = await databases.create()
    refused = subprocess.run(
        [sys.executable, "-m", "scimeta", "serve", "--host", "0.0.0.0", "--port", "1"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "refusing to listen on 0.0.0.0 without API tokens" in refused.stderr
    assert "scimeta serving" not in refused.stdout


async def test_production_keeps_introspection_for_admins_and_suggests_no_names(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    viewer = await token(sessionmaker, Role.VIEWER)
    admin = await token(sessionmaker, Role.ADMIN)
    production = Settings(production=True)
    async with await client_for(sessionmaker, production) as client:
        refused = await post(client, INTROSPECTION, viewer)
        nested = await post(client, '{ projects { __type(name: "Run") { name } } }', viewer)
        typename = await post(client, "{ __typename }", viewer)
        allowed = await post(client, INTROSPECTION, admin)
        misspelt = await post(client, MISSPELT, viewer)
        ide = await client.get("/graphql", headers={"Accept": "text/html"})
    async with await client_for(sessionmaker) as client:
        development = await post(client, INTROSPECTION, viewer)
        suggested = await post(client, MISSPELT, viewer)
        development_ide = await client.get("/graphql", headers={"Accept": "text/html"})

    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}
    assert "schema.graphql" in error["message"]
    assert nested.status_code == 400
    assert typename.json()["data"] == {"__typename": "Query"}
    assert allowed.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    [error] = misspelt.json()["errors"]
    assert error["message"] == "Cannot query field 'nme' on type 'Project'."
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert ide.status_code == 406
    assert development.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "Did you mean 'name'?" in suggested.json()["errors"][0]["message"]
    assert development_ide.status_code == 200
    assert "graphiql" in development_ide.text.lower()
