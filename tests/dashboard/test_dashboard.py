"""The dashboard as the server serves it: the committed build is the build of the
current sources and documents, the page and its files come from the package with a
policy that keeps the page on this server, it is on by default and off in production
unless asked for, and the ids the page sends are known to the server, over HTTP and
for the live subscription over the WebSocket, even when it runs only other trusted
documents."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect

from scimeta.server.app import create_app
from scimeta.server.dashboard import ASSETS_DIR, CONTENT_SECURITY_POLICY, MANIFEST, STATIC_DIR
from scimeta.server.documents import build_manifest, manifest_json
from scimeta.server.settings import Settings
from tests.conftest import started
from tests.dashboard.conftest import serving_demo

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "dashboard" / "src"
QUERIES = ROOT / "frontend-queries"
MESSAGE_TIMEOUT = 20.0
SET_RUNNING = """
mutation Run($id: ID!) { setRunStatus(input: {id: $id, status: RUNNING}) { run { id } } }
"""
ABSOLUTE_URL = re.compile(r"\b(?:https?|wss?):?//", re.IGNORECASE)


def _operation_ids() -> dict[str, str]:
    """The dashboard's documents by operation name."""
    ids = {}
    for document_id, text in json.loads(MANIFEST.read_text()).items():
        match = re.search(r"^(?:query|subscription)\s+(\w+)", text, re.MULTILINE)
        assert match, text
        ids[match.group(1)] = document_id
    return ids


def test_the_committed_build_is_the_build_of_the_current_sources() -> None:
    recorded = json.loads((STATIC_DIR / "build.json").read_text())["sources"]
    current = {
        path.relative_to(ROOT).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in [*SOURCES.iterdir(), *QUERIES.rglob("*.graphql")]
    }
    stale = sorted(
        path for path in current.keys() | recorded.keys() if current.get(path) != recorded.get(path)
    )
    assert not stale, f"rebuild the dashboard (cd dashboard && npm ci && npm run build): {stale}"
    # the page's documents are the manifest the server's own builder makes of the folder
    assert MANIFEST.read_text() == manifest_json(build_manifest(QUERIES))
    assert {"RunMonitor", "RunChanges", "RunDetail", "JobTree", "BatchProgress"} <= set(
        _operation_ids()
    )


def test_the_page_and_its_files_name_no_other_host() -> None:
    files = [STATIC_DIR / "index.html", *ASSETS_DIR.glob("*.js"), *ASSETS_DIR.glob("*.css")]
    for path in files:
        assert not ABSOLUTE_URL.search(path.read_text()), f"{path.name} names another host"


@pytest.fixture
def app_with(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Any:
    async def make(settings: Settings) -> httpx.AsyncClient:
        app = await started(create_app(settings, sessionmaker=sessionmaker))
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        )

    return make


async def test_the_page_is_served_with_a_policy_that_keeps_it_on_this_server(app_with: Any) -> None:
    async with await app_with(Settings()) as client:
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "connect-src 'self'" in CONTENT_SECURITY_POLICY
        assert 'data-graphiql="on"' in page.text
        for asset in re.findall(r'(?:src|href)="(dashboard/assets/[^"]+)"', page.text):
            served = await client.get("/" + asset)
            assert served.status_code == 200, asset
            assert served.headers["x-content-type-options"] == "nosniff"
        script = await client.get("/dashboard/assets/dashboard.js")
        assert "javascript" in script.headers["content-type"]
        documents = await client.get("/dashboard/assets/documents.json")
        assert documents.json() == json.loads(MANIFEST.read_text())
        slash = await client.get("/dashboard/", follow_redirects=False)
        assert slash.status_code == 308
        assert slash.headers["location"] == "../dashboard"
        assert (await client.get("/dashboard/assets/../../graphiql/index.html")).status_code == 404


@pytest.mark.parametrize(
    ("settings", "served", "graphiql"),
    [
        (Settings(production=True, graphiql=False), False, False),
        (Settings(production=True, graphiql=False, dashboard=True), True, False),
        (Settings(dashboard=False), False, True),
        (Settings(graphiql=False), True, False),
    ],
    ids=["production", "production-with-dashboard", "turned-off", "without-graphiql"],
)
async def test_the_dashboard_is_on_unless_turned_off_and_off_in_production_unless_asked(
    app_with: Any, settings: Settings, served: bool, graphiql: bool
) -> None:
    async with await app_with(settings) as client:
        page = await client.get("/dashboard")
        assets = await client.get("/dashboard/assets/dashboard.js")
    assert page.status_code == assets.status_code == (200 if served else 404)
    if served:
        assert (f'data-graphiql="{"on" if graphiql else "off"}"') in page.text


def test_settings_read_the_dashboard_switch() -> None:
    assert Settings.from_env({}).dashboard is None
    assert Settings.from_env({"SCIMETA_DASHBOARD": "0"}).dashboard is False
    assert (
        Settings.from_env({"SCIMETA_DASHBOARD": "1", "SCIMETA_PRODUCTION": "1"}).dashboard is True
    )


@pytest.fixture
async def trusted_only_server(demo_database: str) -> AsyncIterator[Any]:
    # trusts only two documents of its own; the dashboard's are known besides
    async with serving_demo(
        demo_database,
        "--trusted-documents",
        str(QUERIES / "dashboard"),
        "--trusted-documents-only",
    ) as server:
        yield server


async def test_the_ids_the_page_sends_are_known_and_the_live_subscription_resumes(
    trusted_only_server: Any,
) -> None:
    ids = _operation_ids()
    base = trusted_only_server.base_url
    async with httpx.AsyncClient(base_url=base, timeout=MESSAGE_TIMEOUT) as http:
        monitor = await http.post(
            "/graphql",
            json={
                "documentId": ids["RunMonitor"],
                "variables": {"statuses": ["PENDING"], "first": 1},
            },
        )
        body = monitor.json()
        assert "errors" not in body, body
        (pending,) = body["data"]["runs"]["nodes"]
        before = await trusted_only_server.graphql(
            "query { events(last: 1) { nodes { sequence } } }"
        )
        after_sequence = before["events"]["nodes"][0]["sequence"]

        url = base.replace("http", "ws", 1) + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            ack = json.loads(await asyncio.wait_for(socket.recv(), MESSAGE_TIMEOUT))
            assert ack["type"] == "connection_ack"
            await trusted_only_server.graphql(SET_RUNNING, id=pending["id"])
            # subscribed after the change, from the sequence before it: the log replays it
            await socket.send(
                json.dumps(
                    {
                        "id": "live",
                        "type": "subscribe",
                        "payload": {
                            "documentId": ids["RunChanges"],
                            "variables": {"afterSequence": after_sequence},
                        },
                    }
                )
            )
            changes: list[dict[str, Any]] = []
            while not any(c["event"]["type"] == "status_changed" for c in changes):
                message = json.loads(await asyncio.wait_for(socket.recv(), MESSAGE_TIMEOUT))
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                    continue
                assert message["type"] == "next", message
                changes.append(message["payload"]["data"]["runChanged"])
    sequences = [change["sequence"] for change in changes]
    assert sequences == sorted(sequences)
    assert sequences[0] > after_sequence
    changed = changes[-1]
    assert changed["run"] == {**changed["run"], "id": pending["id"], "status": "RUNNING"}


async def test_without_the_dashboard_its_ids_are_unknown(demo_database: str) -> None:
    ids = _operation_ids()
    async with (
        serving_demo(demo_database, "--no-dashboard") as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as http,
    ):
        page = await http.get("/dashboard")
        answer = await http.post("/graphql", json={"documentId": ids["RunMonitor"]})
    assert page.status_code == 404
    assert answer.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
