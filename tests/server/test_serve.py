"""`scimeta serve` with no DATABASE_URL starts an embedded PostgreSQL, migrates it, and
serves GraphQL, GraphiQL, liveness and readiness; on SIGTERM it stops the database."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

STARTUP_DEADLINE_SECONDS = 60
POLL_INTERVAL_SECONDS = 0.1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(port: int, process: subprocess.Popen[str]) -> None:
    """Polls the port (bounded) until uvicorn accepts connections."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"scimeta serve exited early:\n{process.communicate()[0]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(POLL_INTERVAL_SECONDS)
    pytest.fail(f"scimeta serve did not listen on {port} within {STARTUP_DEADLINE_SECONDS}s")


@contextlib.contextmanager
def _serving(data_dir: Path) -> Iterator[str]:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    scimeta = shutil.which("scimeta", path=str(Path(sys.executable).parent))
    assert scimeta is not None
    process = subprocess.Popen(
        [scimeta, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"scimeta serving GraphQL at http://127.0.0.1:{port}/graphql" in output


def test_serve_starts_an_embedded_database_answers_and_stops_it(tmp_path: Path) -> None:
    postmaster = tmp_path / "pgdata" / "postmaster.pid"
    with _serving(tmp_path) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        answer = http.post("/graphql", json={"query": "{ __typename }"})
        assert answer.json()["data"] == {"__typename": "Query"}
        page = http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        assert postmaster.exists()
    assert not postmaster.exists()
