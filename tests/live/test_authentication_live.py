"""Tokens on a running server: a token made while it runs open closes it, WebSockets
authenticate in `connection_init`, and subscriptions push only what the caller may see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from scimeta.auth.tokens import Grant, create_token, revoke_token
from scimeta.models import Role
from scimeta.server import authn
from scimeta.server.database import create_sessionmaker
from tests.conftest import DatabaseFactory
from tests.live.conftest import MESSAGE_TIMEOUT, Subscriber, serving

RUN_CHANGED = """
subscription { runChanged { event { type } run { name study { name } } } }
"""
EVENT_ADDED = "subscription { eventAdded { type subjectType subjectId } }"


@pytest.fixture
async def engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database of its own: the tokens made here would close the servers of other tests."""
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


async def make_token(engine: AsyncEngine, *grants: Grant) -> str:
    async with create_sessionmaker(engine)() as session:
        made = await create_token(session, name="test", grants=list(grants))
        await session.commit()
    return made.secret


async def post(
    client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def data(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> Any:
    response = await post(client, query, token, **variables)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def test_a_token_made_while_the_server_runs_open_closes_it(engine: AsyncEngine) -> None:
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        response = await post(client, "{ viewer { name isAdmin } }")
        assert response.json()["data"]["viewer"] == {"name": "local", "isAdmin": True}
        heard = asyncio.Event()
        # after the listener the server registered at startup, which forgets known tokens
        server.hub.token_listeners.append(heard.set)

        secret = await make_token(engine, Grant(Role.VIEWER))
        await asyncio.wait_for(heard.wait(), MESSAGE_TIMEOUT)

        refused = await post(client, "{ viewer { name } }")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="scimeta"'
        assert refused.json()["errors"][0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": "MISSING",
        }
        viewer = (await data(client, "{ viewer { name isAdmin } }", secret))["viewer"]
        assert viewer["isAdmin"] is False
        assert viewer["name"].startswith("test (token ")


async def test_a_websocket_without_a_usable_token_is_closed_with_4403(
    engine: AsyncEngine,
) -> None:
    secret = await make_token(engine, Grant(Role.VIEWER))
    async with serving(engine) as server:
        for payload in ({}, {"Authorization": "Bearer smt_unknown"}, {"token": "nonsense"}):
            async with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), MESSAGE_TIMEOUT)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4403
        for payload in ({"Authorization": f"Bearer {secret}"}, {"token": secret}):
            async with Subscriber.connect(server.ws_url, payload) as subscriber:
                # acknowledged (connect asserts it), and identified as the token
                operation = await subscriber.subscribe("subscription { eventAdded { type } }")
                await server.hub.wait_for_subscriptions(1)
                await subscriber.stop(operation)
                await server.hub.wait_for_subscriptions(0)


async def test_subscriptions_push_only_changes_the_caller_may_see(engine: AsyncEngine) -> None:
    admin = await make_token(engine, Grant(Role.ADMIN))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        runs: dict[str, str] = {}
        studies: dict[str, str] = {}
        for name in ("mine", "theirs"):
            study = await data(
                client,
                "mutation($n: String!) { createStudy(input: {name: $n}) { study { id } } }",
                admin,
                n=name,
            )
            studies[name] = study["createStudy"]["study"]["id"]
            run = await data(
                client,
                "mutation($n: String!, $s: ID!) { createRun(input: {name: $n, studyId: $s}) "
                "{ run { id } } }",
                admin,
                n=f"run of {name}",
                s=studies[name],
            )
            runs[name] = run["createRun"]["run"]["id"]
        viewer = await make_token(
            engine, Grant(Role.VIEWER, study_id=await _row_id(engine, "studies", "mine"))
        )
        payload = {"Authorization": f"Bearer {viewer}"}
        async with Subscriber.connect(server.ws_url, payload) as subscriber:
            changes = await subscriber.subscribe(RUN_CHANGED)
            events = await subscriber.subscribe(EVENT_ADDED)
            await server.hub.wait_for_subscriptions(2)
            # the other study's change commits first: had it been pushed, it would come first
            for name in ("theirs", "mine"):
                await data(
                    client,
                    "mutation($id: ID!) { setRunPhase(input: {id: $id, phase: EXECUTE}) "
                    "{ run { id } } }",
                    admin,
                    id=runs[name],
                )
            change = (await subscriber.next(changes))["runChanged"]
            assert change["run"] == {"name": "run of mine", "study": {"name": "mine"}}
            event = (await subscriber.next(events))["eventAdded"]
            assert event["subjectType"] == "Run"
            assert event["subjectId"] == runs["mine"]
            assert subscriber.pending(changes) == 0 and subscriber.pending(events) == 0


async def _row_id(engine: AsyncEngine, table: str, name: str) -> int:
    async with engine.connect() as connection:
        row_id = await connection.scalar(
            text(f"SELECT id FROM {table} WHERE name = :name"), {"name": name}
        )
    assert isinstance(row_id, int)
    return row_id


async def test_a_token_revoked_while_the_server_remembers_it_is_refused(
    engine: AsyncEngine,
) -> None:
    secret = await make_token(engine, Grant(Role.VIEWER))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        # twice: the second is answered from what the process remembers of the token
        for _ in range(2):
            assert (await post(client, "{ viewer { isAdmin } }", secret)).status_code == 200
        assert server.app.state.authenticator.remembers(secret)
        heard = asyncio.Event()
        server.hub.token_listeners.append(heard.set)
        heard.clear()

        await _revoke(engine, secret)
        await asyncio.wait_for(heard.wait(), MESSAGE_TIMEOUT)

        refused = await post(client, "{ viewer { isAdmin } }", secret)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["reason"] == "REVOKED"


async def _revoke(engine: AsyncEngine, secret: str) -> None:
    async with create_sessionmaker(engine)() as session:
        token_id = await session.scalar(
            text("SELECT id FROM api_tokens WHERE prefix = :prefix"), {"prefix": secret[:12]}
        )
        await revoke_token(session, token_id)
        await session.commit()


async def _closed_with(ws: Any) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), MESSAGE_TIMEOUT))
            # a message after the revocation would be the bug this test is about
            assert message["type"] in ("connection_ack", "ping"), message
    return None if closed.value.rcvd is None else closed.value.rcvd.code


async def test_a_websocket_loses_its_access_when_its_token_is_revoked(
    engine: AsyncEngine,
) -> None:
    """A socket keeps no access its token lost: an operation started after the
    revocation, and a subscription's next message, both close it with 4403."""
    admin = await make_token(engine, Grant(Role.ADMIN))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        created = await data(
            client,
            'mutation { createRun(input: {name: "watched"}) { run { id } } }',
            admin,
        )
        run_id = created["createRun"]["run"]["id"]
        for way in ("new operation", "next message"):
            secret = await make_token(engine, Grant(Role.ADMIN))
            async with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": {"token": secret}}))
                ack = json.loads(await asyncio.wait_for(ws.recv(), MESSAGE_TIMEOUT))
                assert ack["type"] == "connection_ack"
                subscribe = {"query": RUN_CHANGED}
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
                await server.hub.wait_for_subscriptions(1)
                heard = asyncio.Event()
                server.hub.token_listeners.append(heard.set)
                await _revoke(engine, secret)
                await asyncio.wait_for(heard.wait(), MESSAGE_TIMEOUT)
                server.hub.token_listeners.remove(heard.set)
                if way == "new operation":
                    mutation = {
                        "query": 'mutation { createStudy(input: {name: "late"}) { study { id } } }'
                    }
                    await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": mutation}))
                else:
                    await data(
                        client,
                        "mutation($id: ID!) { setRunPhase(input: {id: $id, phase: EXECUTE}) "
                        "{ run { id } } }",
                        admin,
                        id=run_id,
                    )
                assert await _closed_with(ws) == 4403, way
            await server.hub.wait_for_subscriptions(0)
        studies = await data(client, "{ studies { totalCount } }", admin)
        assert studies["studies"]["totalCount"] == 0


async def test_a_token_read_while_it_is_revoked_is_not_remembered(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revocation is heard between the request's read of the token and the moment
    the process would remember it: the process must not remember what it read."""
    secret = await make_token(engine, Grant(Role.VIEWER))
    async with (
        serving(engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        # answered once the server has started (its listener runs)
        assert (await post(client, "{ viewer { name } }", "smt_unknown")).status_code == 401
        heard = asyncio.Event()
        server.hub.token_listeners.append(heard.set)
        authenticator = server.app.state.authenticator
        read = authn.identify

        async def read_then_revoke(session: Any, authorization: str | None) -> Any:
            identity = await read(session, authorization)
            await _revoke(engine, secret)
            await asyncio.wait_for(heard.wait(), MESSAGE_TIMEOUT)
            return identity

        monkeypatch.setattr(authn, "identify", read_then_revoke)
        first = await post(client, "{ viewer { name } }", secret)
        monkeypatch.setattr(authn, "identify", read)

        assert first.status_code == 200  # read before the revocation
        assert not authenticator.remembers(secret)
        later = await post(client, "{ viewer { name } }", secret)
        assert later.status_code == 401
        assert later.json()["errors"][0]["extensions"]["reason"] == "REVOKED"
