"""Trusted documents: `scimeta documents build` makes the same manifest of a folder every
time; a request may name a document by `documentId` or Apollo's `persistedQuery` instead
of sending its text, over GET, POST and the WebSocket; an unknown id is refused with
PERSISTED_QUERY_NOT_FOUND; with trusted documents only, free text runs only for admins
of everything."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from tests.conftest import DatabaseFactory, started
from tests.live.conftest import MESSAGE_TIMEOUT, STARTUP_TIMEOUT, bound_socket
from websockets.asyncio.client import ClientConnection, connect

from scimeta import models
from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.cli import main
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.documents import (
    DocumentsError,
    TrustedDocuments,
    build_manifest,
    document_id,
    load_manifest,
)
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import (
    TRUSTED_DOCUMENTS_ONLY_VARIABLE,
    TRUSTED_DOCUMENTS_VARIABLE,
    Settings,
)

QUERIES = Path(__file__).resolve().parents[2] / "frontend-queries"

VIEWER = "# who calls\nquery Viewer { viewer { name isAdmin } }\n"
PROJECTS = "query Projects($first: Int) { projects(first: $first) { totalCount } }\n"
FREE_TEXT = "{ viewer { name } }"
UNKNOWN = "sha256:" + "0" * 64

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


@pytest.fixture
def documents_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "queries"
    (folder / "people").mkdir(parents=True)
    (folder / "people" / "viewer.graphql").write_text(VIEWER)
    (folder / "projects.graphql").write_text(PROJECTS)
    (folder / "notes.txt").write_text("not a document")
    return folder


def settings_for(documents: Path, *, only: bool = False) -> Settings:
    return Settings(trusted_documents=documents, trusted_documents_only=only)


@contextlib.asynccontextmanager
async def client_for(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = await started(create_app(settings, sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert isinstance(error, dict)
    return error


async def tokens(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[str, str]:
    """The secrets of a viewer of one project and of an admin of everything."""
    async with sessionmaker() as session:
        project = models.Project(name=f"documents-{uuid.uuid4().hex[:8]}")
        session.add(project)
        await session.flush()
        scoped = await create_token(
            session, name="scoped", grants=[Grant(Role.VIEWER, project_id=project.id)]
        )
        admin = await create_token(session, name="admin", grants=[Grant(Role.ADMIN)])
        await session.commit()
    return scoped.secret, admin.secret


# --- the manifest -------------------------------------------------------------------------


def test_documents_build_writes_the_same_manifest_of_a_folder_every_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert main(["documents", "build", str(QUERIES), "-o", str(first)]) == 0
    # the same documents written in another order, elsewhere
    copy = tmp_path / "copy"
    for path in sorted(QUERIES.rglob("*.graphql"), reverse=True):
        target = copy / path.relative_to(QUERIES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    assert main(["documents", "build", str(copy), "-o", str(second)]) == 0
    capsys.readouterr()
    assert main(["documents", "build", str(QUERIES)]) == 0
    printed = capsys.readouterr().out

    assert first.read_bytes() == second.read_bytes() == printed.encode()
    manifest = json.loads(first.read_text())
    texts = [path.read_text() for path in QUERIES.rglob("*.graphql")]
    assert len(manifest) == len(texts) == 13
    assert list(manifest) == sorted(manifest)
    for text in texts:
        digest = hashlib.sha256(text.encode()).hexdigest()
        assert manifest[f"sha256:{digest}"] == text
    assert printed.endswith("}\n")
    assert load_manifest(first) == manifest == build_manifest(QUERIES)


def test_a_manifest_is_checked_when_it_is_loaded(tmp_path: Path, documents_dir: Path) -> None:
    manifest = tmp_path / "manifest.json"
    # GraphQL Codegen's persisted-documents.json: bare hexadecimal keys
    codegen = {document_id(VIEWER).removeprefix("sha256:"): VIEWER, "custom-id": PROJECTS}
    manifest.write_text(json.dumps(codegen))
    assert load_manifest(manifest) == {document_id(VIEWER): VIEWER, "custom-id": PROJECTS}

    manifest.write_text(json.dumps({document_id(VIEWER): PROJECTS}))
    with pytest.raises(DocumentsError, match="has another hash"):
        load_manifest(manifest)
    manifest.write_text(json.dumps([VIEWER]))
    with pytest.raises(DocumentsError, match="JSON object mapping"):
        load_manifest(manifest)
    with pytest.raises(DocumentsError, match="cannot read"):
        load_manifest(tmp_path / "missing.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DocumentsError, match=r"no \.graphql files"):
        build_manifest(empty)
    with pytest.raises(DocumentsError, match="no trusted documents were given"):
        TrustedDocuments.load(None, trusted_only=True)
    assert main(["documents", "build", str(empty)]) == 1
    assert set(build_manifest(documents_dir).values()) == {VIEWER, PROJECTS}


def test_trusted_documents_come_from_the_environment(documents_dir: Path) -> None:
    settings = Settings.from_env(
        {TRUSTED_DOCUMENTS_VARIABLE: str(documents_dir), TRUSTED_DOCUMENTS_ONLY_VARIABLE: "1"}
    )
    assert settings.trusted_documents == documents_dir
    assert settings.trusted_documents_only
    assert not Settings.from_env({TRUSTED_DOCUMENTS_ONLY_VARIABLE: "0"}).trusted_documents_only
    assert Settings.from_env({}).trusted_documents is None


# --- requests that name a document --------------------------------------------------------


async def test_a_document_id_runs_over_post_and_get(
    sessionmaker: async_sessionmaker[AsyncSession], documents_dir: Path
) -> None:
    async with client_for(sessionmaker, settings_for(documents_dir)) as client:
        posted = await client.post(
            "/graphql", json={"documentId": document_id(PROJECTS), "variables": {"first": 1}}
        )
        got = await client.get(
            "/graphql",
            params={"documentId": document_id(VIEWER), "operationName": "Viewer"},
        )
        # a browser's GET with a document id runs it rather than opening GraphiQL
        html = await client.get(
            "/graphql",
            params={"documentId": document_id(VIEWER)},
            headers={"Accept": f"text/html, {GRAPHQL_RESPONSE_JSON}"},
        )

    assert posted.status_code == 200, posted.text
    assert isinstance(posted.json()["data"]["projects"]["totalCount"], int)
    assert got.status_code == 200, got.text
    assert got.json()["data"] == {"viewer": {"name": "local", "isAdmin": True}}
    assert html.json()["data"] == got.json()["data"]


async def test_apollo_persisted_queries_name_a_document_by_its_hash(
    sessionmaker: async_sessionmaker[AsyncSession], documents_dir: Path
) -> None:
    digest = document_id(VIEWER).removeprefix("sha256:")
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    async with client_for(sessionmaker, settings_for(documents_dir)) as client:
        posted = await client.post("/graphql", json={"extensions": persisted})
        got = await client.get("/graphql", params={"extensions": json.dumps(persisted)})
        # Apollo's link registers a query by sending both: the text must be the hash's
        both = await client.post("/graphql", json={"query": VIEWER, "extensions": persisted})
        mismatch = await client.post("/graphql", json={"query": FREE_TEXT, "extensions": persisted})
        unknown = await client.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
        )

    for answer in (posted, got, both):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == {"viewer": {"name": "local", "isAdmin": True}}
    assert mismatch.status_code == 400
    assert error_of(mismatch)["extensions"] == {"code": "BAD_REQUEST"}
    assert unknown.status_code == 400
    assert error_of(unknown)["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}


async def test_an_unknown_document_id_is_refused_with_its_code(
    sessionmaker: async_sessionmaker[AsyncSession], documents_dir: Path
) -> None:
    async with client_for(sessionmaker, settings_for(documents_dir)) as client:
        posted = await client.post("/graphql", json={"documentId": UNKNOWN})
        got = await client.get("/graphql", params={"documentId": UNKNOWN})
        legacy = await client.post(
            "/graphql", json={"documentId": UNKNOWN}, headers={"Accept": "application/json"}
        )
    # a server given no documents knows no id
    async with client_for(sessionmaker, Settings()) as client:
        none_known = await client.post("/graphql", json={"documentId": document_id(VIEWER)})

    for refused in (posted, got, none_known):
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        error = error_of(refused)
        assert error["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
        assert error["message"].startswith("PersistedQueryNotFound")
    assert UNKNOWN in error_of(posted)["message"]
    # a request that never executes is a 200 for legacy clients, as any other is
    assert legacy.status_code == 200
    assert error_of(legacy)["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"documentId": 7}, "`documentId` must be a string"),
        ({"extensions": {"persistedQuery": "abc"}}, "must be an object"),
        ({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}}, "version"),
        ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}}, "SHA-256"),
        (
            {
                "documentId": UNKNOWN,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "1" * 64}},
            },
            "different documents",
        ),
    ],
)
async def test_malformed_document_parameters_are_400(
    sessionmaker: async_sessionmaker[AsyncSession],
    documents_dir: Path,
    body: dict[str, Any],
    message: str,
) -> None:
    async with client_for(sessionmaker, settings_for(documents_dir)) as client:
        response = await client.post("/graphql", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert message in error["message"]


async def test_trusted_documents_only_refuses_free_text_to_all_but_admins_of_everything(
    sessionmaker: async_sessionmaker[AsyncSession], documents_dir: Path
) -> None:
    async with client_for(sessionmaker, settings_for(documents_dir, only=True)) as client:
        # the local user of an open server is an admin of everything (GraphiQL)
        local = await client.post("/graphql", json={"query": FREE_TEXT})
    scoped, admin = await tokens(sessionmaker)
    async with client_for(sessionmaker, settings_for(documents_dir, only=True)) as client:

        async def post(token: str, body: dict[str, Any]) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"}
            return await client.post("/graphql", json=body, headers=headers)

        refused = await post(scoped, {"query": FREE_TEXT})
        refused_get = await client.get(
            "/graphql", params={"query": FREE_TEXT}, headers={"Authorization": f"Bearer {scoped}"}
        )
        by_id = await post(scoped, {"documentId": document_id(VIEWER)})
        # the exact text of a trusted document is that document
        trusted_text = await post(scoped, {"query": VIEWER})
        by_admin = await post(admin, {"query": FREE_TEXT})
    async with client_for(sessionmaker, settings_for(documents_dir)) as client:
        not_only = await client.post(
            "/graphql", json={"query": FREE_TEXT}, headers={"Authorization": f"Bearer {scoped}"}
        )

    assert local.status_code == 200, local.text
    assert local.json()["data"] == {"viewer": {"name": "local"}}
    for answer in (refused, refused_get):
        assert answer.status_code == 400
        error = error_of(answer)
        assert error["extensions"] == {"code": "TRUSTED_DOCUMENTS_ONLY"}
        assert "documentId" in error["message"]
    for answer in (by_id, trusted_text):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["viewer"]["isAdmin"] is False
        assert answer.json()["data"]["viewer"]["name"].startswith("scoped")
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["data"]["viewer"]["name"].startswith("admin")
    assert not_only.status_code == 200, not_only.text


# --- the WebSocket ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(engine: AsyncEngine, settings: Settings) -> AsyncIterator[int]:
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


@contextlib.asynccontextmanager
async def socket_for(port: int, token: str) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=STARTUP_TIMEOUT,
    ) as websocket:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await websocket.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT))
        assert ack["type"] == "connection_ack", ack
        yield websocket


async def operation(websocket: ClientConnection, key: str, payload: dict[str, Any]) -> Any:
    """Sends a subscribe message; returns its first answer (`next` or `error`)."""
    await websocket.send(json.dumps({"id": key, "type": "subscribe", "payload": payload}))
    while True:
        message = json.loads(await asyncio.wait_for(websocket.recv(), MESSAGE_TIMEOUT))
        if message.get("id") == key and message["type"] in ("next", "error"):
            return message


async def test_a_websocket_operation_names_its_document_and_free_text_is_refused(
    databases: DatabaseFactory, documents_dir: Path
) -> None:
    engine = await databases.migrated_engine()
    try:
        scoped, admin = await tokens(create_sessionmaker(engine))
        settings = Settings(
            lease_sweep_seconds=0, trusted_documents=documents_dir, trusted_documents_only=True
        )
        digest = document_id(VIEWER).removeprefix("sha256:")
        async with serving(engine, settings) as port:
            async with socket_for(port, scoped) as websocket:
                by_id = await operation(websocket, "1", {"documentId": document_id(VIEWER)})
                apollo = await operation(
                    websocket,
                    "2",
                    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}},
                )
                free = await operation(websocket, "3", {"query": FREE_TEXT})
                unknown = await operation(websocket, "4", {"documentId": UNKNOWN})
                # the socket carries on after a refused operation
                again = await operation(websocket, "5", {"documentId": document_id(VIEWER)})
            async with socket_for(port, admin) as websocket:
                by_admin = await operation(websocket, "1", {"query": FREE_TEXT})
    finally:
        await engine.dispose()

    for answer in (by_id, apollo, again):
        assert answer["type"] == "next", answer
        assert answer["payload"]["data"]["viewer"]["isAdmin"] is False
        assert answer["payload"]["data"]["viewer"]["name"].startswith("scoped")
    assert free["type"] == "error"
    assert [error["extensions"]["code"] for error in free["payload"]] == ["TRUSTED_DOCUMENTS_ONLY"]
    assert unknown["type"] == "error"
    assert [e["extensions"]["code"] for e in unknown["payload"]] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert by_admin["type"] == "next", by_admin
    assert by_admin["payload"]["data"]["viewer"]["name"].startswith("admin")


# --- scimeta serve ------------------------------------------------------------------------


async def test_serve_passes_trusted_documents_and_cors_origins_to_its_workers(
    databases: DatabaseFactory, tmp_path: Path, documents_dir: Path, unused_tcp_port: int
) -> None:
    """The options reach the worker application through the environment; the manifest is
    read (and checked) before serving."""
    url = await databases.create()
    manifest = tmp_path / "manifest.json"
    assert main(["documents", "build", str(documents_dir), "-o", str(manifest)]) == 0
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_upgrade)
        scoped, _ = await tokens(create_sessionmaker(engine))
    finally:
        await engine.dispose()
    origin = "https://app.lab.example"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scimeta",
        "serve",
        "--port",
        str(unused_tcp_port),
        "--trusted-documents",
        str(manifest),
        "--trusted-documents-only",
        "--cors-origin",
        origin,
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
            base_url=f"http://127.0.0.1:{unused_tcp_port}",
            timeout=MESSAGE_TIMEOUT,
            headers={"Authorization": f"Bearer {scoped}"},
        ) as client:
            preflight = await client.options(
                "/graphql",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            by_id = await client.post(
                "/graphql",
                json={"documentId": document_id(VIEWER)},
                headers={"Origin": origin},
            )
            free = await client.post("/graphql", json={"query": FREE_TEXT})
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT)

    assert f"pages of {origin} may call it from a browser (CORS)\n" in output
    assert any(line.startswith(f"2 trusted documents from {manifest}: the only") for line in output)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["data"]["viewer"]["isAdmin"] is False
    assert by_id.headers["access-control-allow-origin"] == origin
    assert free.status_code == 400
    assert error_of(free)["extensions"] == {"code": "TRUSTED_DOCUMENTS_ONLY"}


def test_serve_refuses_trusted_documents_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({document_id(VIEWER): PROJECTS}))
    handler = signal.getsignal(signal.SIGTERM)
    try:
        tampered = main(["serve", "--trusted-documents", str(manifest)])
        tampered_error = capsys.readouterr().err
        without = main(["serve", "--trusted-documents-only"])
        without_error = capsys.readouterr().err
    finally:
        signal.signal(signal.SIGTERM, handler)

    assert tampered == 1
    assert "has another hash" in tampered_error
    assert without == 1
    assert "no trusted documents were given" in without_error
