"""How a server decides who may call it: open on loopback while no token was ever made,
refusing to start open elsewhere, tokens once one was made (also after it is revoked or
expires); and production mode."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import DatabaseFactory, started

from scimeta.auth.identity import (
    AccessMode,
    OpenServerRefused,
    access_mode,
    decide_access,
)
from scimeta.auth.tokens import Grant, create_token, revoke_token
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.authn import access_notice
from scimeta.server.settings import Settings

INTROSPECTION = "{ __schema { queryType { name } } }"
MISSPELT = "{ projects { nodes { nme } } }"


async def client_for(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> httpx.AsyncClient:
    app = await started(create_app(settings or Settings(), sessionmaker=sessionmaker))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def token(sessionmaker: async_sessionmaker[AsyncSession], role: Role) -> str:
    async with sessionmaker() as session:
        made = await create_token(session, name=role.value.lower(), grants=[Grant(role)])
        await session.commit()
    return made.secret


async def revoke_all(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        for token_id in (await session.scalars(text("SELECT id FROM api_tokens"))).all():
            await revoke_token(session, token_id)
        await session.commit()


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


async def test_revoking_the_last_token_does_not_open_the_server_again(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    app = await started(create_app(Settings(), sessionmaker=sessionmaker))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        opened = await post(client, "{ viewer { name } }")
        secret = await token(sessionmaker, Role.ADMIN)
        # as the hub's listener does when it hears of each change
        app.state.authenticator.tokens_changed()
        await revoke_all(sessionmaker)
        app.state.authenticator.tokens_changed()
        while_running = await post(client, "{ viewer { name } }")
        revoked = await post(client, "{ viewer { name } }", secret)
    async with sessionmaker() as session:
        # a server started on this database now: on loopback, and beyond it
        modes = [await access_mode(session, host) for host in ("127.0.0.1", "0.0.0.0")]
    async with await client_for(sessionmaker) as client:
        after_restart = await post(client, "{ viewer { name } }")

    assert opened.json()["data"]["viewer"] == {"name": "local"}
    assert while_running.status_code == 401
    assert revoked.status_code == 401
    assert revoked.json()["errors"][0]["extensions"]["reason"] == "REVOKED"
    assert modes == [AccessMode.TOKENS] * 2
    assert after_restart.status_code == 401
    assert after_restart.json()["errors"][0]["extensions"]["reason"] == "MISSING"


async def test_an_expired_token_keeps_the_server_needing_tokens(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await token(sessionmaker, Role.VIEWER)
    async with sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE api_tokens SET created_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 day'"
            )
        )
        await session.commit()
        decision = await decide_access(session, "127.0.0.1")
    async with await client_for(sessionmaker) as client:
        refused = await post(client, "{ viewer { name } }")

    assert decision.mode is AccessMode.TOKENS
    assert (decision.tokens, decision.usable_tokens) == (1, 0)
    assert refused.status_code == 401


async def test_the_start_up_line_says_how_the_server_runs_and_why(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        never = await decide_access(session, "127.0.0.1")
    await token(sessionmaker, Role.VIEWER)
    async with sessionmaker() as session:
        one = await decide_access(session, "127.0.0.1")
    await token(sessionmaker, Role.ADMIN)
    async with sessionmaker() as session:
        two = await decide_access(session, "0.0.0.0")
    await revoke_all(sessionmaker)
    async with sessionmaker() as session:
        revoked = await decide_access(session, "127.0.0.1")

    assert never.mode is AccessMode.OPEN
    assert access_notice(never).startswith(
        "scimeta is open: no API token has ever been created and it listens on loopback only"
    )
    assert "localhost, 127.0.0.1 or [::1]" in access_notice(never)
    assert "[::1] or lab-laptop.local" in access_notice(never, ("lab-laptop.local",))
    assert access_notice(one).endswith(
        "requires a token on every request (Authorization: Bearer): 1 usable token exists"
    )
    assert access_notice(two).endswith(": 2 usable tokens exist")
    assert revoked.mode is AccessMode.TOKENS
    assert access_notice(revoked).endswith(
        ": tokens were issued before (all revoked or expired); create one with scimeta token create"
    )


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
