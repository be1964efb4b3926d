"""What `scimeta serve`'s own process does for metrics: the directory its worker
processes share their values through, and the separate port it may serve them on.

prometheus-client decides how a process keeps its values when it is first imported, from
`PROMETHEUS_MULTIPROC_DIR`: this module imports it only inside its functions, after the
directory is set, and the command line imports nothing else that does before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_TOKEN_VARIABLE = "SCIMETA_METRICS_TOKEN"


@contextlib.contextmanager
def shared_metrics_directory() -> Iterator[Path]:
    """A directory for the worker processes' metrics, set in `PROMETHEUS_MULTIPROC_DIR`
    for them, empty as they start, as prometheus-client asks.

    Without the variable, a temporary directory this process owns, removed when it ends;
    with it, that directory, whose old files (another run's) are removed first.
    """
    configured = os.environ.get(MULTIPROC_VARIABLE, "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="scimeta-metrics-"))
    os.environ[MULTIPROC_VARIABLE] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_VARIABLE, None)
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def metrics_port(host: str, port: int, token: str | None) -> Iterator[tuple[str, int]]:
    """Serve `/metrics` of every worker process on `host:port` from a thread of this
    process, until the block ends; with `token`, only to requests bearing it."""
    from scimeta.server.metrics import bearer_matches, exposition

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"not found: scrape /metrics\n", "text/plain")
                return
            if token and not bearer_matches(self.headers.get("Authorization"), token):
                self._answer(401, b"send Authorization: Bearer <metrics token>\n", "text/plain")
                return
            from prometheus_client import CONTENT_TYPE_LATEST

            self._answer(200, exposition(), CONTENT_TYPE_LATEST)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # scrapes every few seconds are not worth a line each
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="scimeta metrics", daemon=True)
    thread.start()
    try:
        address = server.server_address
        yield str(address[0]), int(address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serving_metrics(
    api_address: str, port: int | None, host: str, token: str | None
) -> Iterator[None]:
    """Everything `scimeta serve` does for metrics while its workers run: their shared
    directory, and with `port` the separate port; says where to scrape them."""
    with shared_metrics_directory() as directory:
        gathered = f"the workers' values gathered in {directory}"
        if port is None:
            protected = "by the metrics token" if token else "as the API is"
            print(f"metrics at {api_address}/metrics (protected {protected}; {gathered})")
            yield
            return
        with metrics_port(host, port, token) as (bound_host, bound_port):
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            print(f"metrics at http://{shown}:{bound_port}/metrics ({gathered})")
            yield
