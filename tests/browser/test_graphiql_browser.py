"""GraphiQL in a real browser, offline: Debian's Chromium loads the page from a uvicorn
server on 127.0.0.1 with every other host unreachable, and a query typed into the editor
and a subscription both come back in the result pane.

The browser is driven by `graphiql.mjs` here, through playwright-core from npm
(`npm ci --prefix tests/browser`, which `.ci/run` does): it launches /usr/bin/chromium
and never downloads a browser. Playwright was chosen over Selenium for its request and
WebSocket interception, which fails and records any request to another host; Selenium
with chromedriver can only block URL patterns, without a record of what was tried.

The same runs against a server that asks for tokens: the query fails until the token is
typed into the headers editor, and the subscription carries it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from tests.conftest import DatabaseFactory

from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.server.settings import Settings

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "graphiql.mjs"
CHROMIUM = Path(os.environ.get("SCIMETA_CHROMIUM", "/usr/bin/chromium"))
STARTUP_TIMEOUT = 30.0
# the whole browser session: Chromium's start and GraphiQL's 3.5 MB script on a busy
# machine take a few seconds of it
BROWSER_TIMEOUT = 240.0
STEP_TIMEOUT_MS = 60_000


def browser_tooling() -> str:
    """The node executable, once everything the test needs is known to be there; the
    test fails (CI installs all of it) with what to install otherwise."""
    missing = []
    node = shutil.which("node")
    if node is None:
        missing.append("Node.js (`apt-get install -y nodejs npm`)")
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (`apt-get install -y chromium`)")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (`npm ci --prefix tests/browser`)")
    if missing:
        pytest.fail(
            "the browser test needs " + ", ".join(missing) + "; .ci/run installs them all",
            pytrace=False,
        )
    assert node is not None
    return node


@contextlib.asynccontextmanager
async def serving(
    databases: DatabaseFactory, *, with_token: bool
) -> AsyncIterator[tuple[str, str | None]]:
    """The application as `scimeta serve` runs it (lifespan, listener) on a fresh
    database, on 127.0.0.1: the URL of its /graphql, and with `with_token` the secret of
    an admin token made before it starts, so that it asks every request for a token."""
    engine = await databases.migrated_engine()
    sessionmaker = create_sessionmaker(engine)
    secret = None
    if with_token:
        async with sessionmaker() as session:
            secret = (
                await create_token(session, name="graphiql", grants=[Grant(Role.ADMIN)])
            ).secret
            await session.commit()
    app = create_app(Settings(lease_sweep_seconds=0), sessionmaker=sessionmaker)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/graphql", secret
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STARTUP_TIMEOUT)
        finally:
            sock.close()
            await engine.dispose()


async def run_browser(node: str, job: dict[str, object]) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        json.dumps(job),
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(BROWSER_TIMEOUT):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = stdout.decode().strip().splitlines()
    assert lines, f"the browser driver printed nothing (exit {process.returncode}):\n{stderr}"
    report: dict[str, object] = json.loads(lines[-1])
    assert process.returncode == 0 and report["error"] is None, (
        f"the browser driver failed (exit {process.returncode}): {report['error']}\n"
        f"report: {json.dumps(report, indent=2)}\nstderr: {stderr.decode()[-3000:]}"
    )
    return report


async def browse(databases: DatabaseFactory, *, with_token: bool) -> Browsed:
    """A project made over HTTP, then GraphiQL in the browser: a typed query finding it
    and a subscription receiving its created event (already in the log, so there is no
    race with the subscription's start)."""
    node = browser_tooling()
    name = f"offline-{uuid.uuid4().hex[:8]}"
    query = f'{{ projects(where: {{name: {{eq: "{name}"}}}}) {{ nodes {{ id name }} }} }}'
    async with serving(databases, with_token=with_token) as (url, secret):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        async with httpx.AsyncClient() as http:
            created = await http.post(
                url,
                headers=headers,
                json={
                    "query": "mutation($name: String!) { createProject(input: {name: $name})"
                    " { project { id } } }",
                    "variables": {"name": name},
                },
            )
        project_id = created.json()["data"]["createProject"]["project"]["id"]
        report = await run_browser(
            node,
            {
                "url": url,
                "query": query,
                "expect": name,
                "subscription": 'subscription { eventAdded(subjectType: "Project", '
                'types: ["created"], afterSequence: 0) { type subjectId } }',
                "subscriptionExpect": project_id,
                "token": secret,
                "timeoutMs": STEP_TIMEOUT_MS,
            },
        )

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    requests = report["requests"]
    assert isinstance(requests, list)
    # nothing went to, or was even tried on, another host
    assert report["blocked"] == []
    assert [request for request in requests if not request.startswith(origin + "/")] == []
    # the page and its files came from the server
    assert requests[0] == url
    assert any(request.endswith("/graphiql-3.8.3/graphiql.min.js") for request in requests)
    assert any(request.endswith("/react-dom.production.min.js") for request in requests)
    assert any(
        request.endswith("/graphiql-plugin-explorer-3.2.5/index.umd.js") for request in requests
    )
    assert report["violations"] == []
    # the headers editor is on, showing where a token goes
    assert json.loads(str(report["headersDefault"])) == {"Authorization": "Bearer smt_..."}
    # what was typed is what ran, and its answer is in the result pane
    assert " ".join(str(report["typed"]).split()) == query
    assert json.loads(str(report["response"]))["data"] == {
        "projects": {"nodes": [{"id": project_id, "name": name}]}
    }
    # subscriptions go over the WebSocket of the same host
    assert report["websockets"] == [url.replace("http://", "ws://", 1)]
    assert json.loads(str(report["subscriptionResponse"]))["data"] == {
        "eventAdded": {"type": "created", "subjectId": project_id}
    }
    # and the interception would have caught a request elsewhere
    probe = report["probe"]
    assert isinstance(probe, dict)
    assert probe["blocked"] == [probe["url"]]
    assert probe["error"] is not None
    return Browsed(report, secret)


@dataclass
class Browsed:
    report: dict[str, object]
    secret: str | None


async def test_graphiql_runs_a_typed_query_and_a_subscription_with_no_other_host(
    databases: DatabaseFactory,
) -> None:
    browsed = await browse(databases, with_token=False)

    # The placeholder in the headers editor was not sent: this server runs open, and
    # would have refused the query for an unknown token.
    assert browsed.report["consoleErrors"] == []
    assert browsed.report["withoutToken"] is None


async def test_graphiql_sends_the_token_typed_into_its_headers_editor(
    databases: DatabaseFactory,
) -> None:
    browsed = await browse(databases, with_token=True)

    report = browsed.report
    # before the token was typed: no token went, and the server asked for one
    [error] = json.loads(str(report["withoutToken"]))["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert json.loads(str(report["headersTyped"])) == {"Authorization": f"Bearer {browsed.secret}"}
    # the browser reports the refused requests (the schema's, and the query's) and nothing
    # else
    errors = report["consoleErrors"]
    assert isinstance(errors, list) and errors
    assert all("status of 401" in error for error in errors), errors
