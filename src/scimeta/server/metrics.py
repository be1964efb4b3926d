"""Prometheus metrics of a server process, and the `/metrics` endpoint.

`scimeta serve` runs its worker processes with `PROMETHEUS_MULTIPROC_DIR` set to a
directory it owns (`scimeta.server.exposition`): each process writes its values there,
and a scrape, whichever process answers it, reads them all (prometheus-client's
multiprocess mode). A process that was not started that way (a test, an application
served by another ASGI server) keeps its values in memory and exposes its own.

Labels are bounded: operation names are the client's, so a process labels at most
`MAX_OPERATION_NAMES` distinct names and counts the rest as `(other)`; error codes are
the server's.

Who may read `/metrics`: with `SCIMETA_METRICS_TOKEN` set, whoever sends it as a bearer
token; otherwise whoever may call the other routes and has a grant on everything (the
local user of a server that runs open, or an API token with a grant on everything).
`scimeta serve --metrics-port` serves them on a port of their own instead.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_TOKEN_VARIABLE = "SCIMETA_METRICS_TOKEN"

MAX_OPERATION_NAMES = 200
ANONYMOUS = "(anonymous)"
OTHER = "(other)"
NO_CODE = "none"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

# seconds: from a cached compiled read (about a millisecond) to the operation timeout
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

REQUESTS = Counter(
    "scimeta_requests",
    "GraphQL requests over HTTP, by operation name and type, HTTP status and the code of "
    "their first error (none: no error).",
    ["operation", "type", "status", "code"],
)
REQUEST_SECONDS = Histogram(
    "scimeta_request_duration_seconds",
    "Time from a GraphQL request's arrival to its last byte, by operation.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
SQL_STATEMENTS = Counter(
    "scimeta_sql_statements",
    "SQL statements sent, by the operation that sent them (type background: the listener's "
    "and the lease sweeper's own; websocket: operations over WebSockets).",
    ["operation", "type"],
)
SQL_SECONDS = Counter(
    "scimeta_sql_seconds",
    "Time spent waiting for SQL statements, by the operation that sent them.",
    ["operation", "type"],
)
POOL_IN_USE = Gauge(
    "scimeta_db_pool_connections_in_use",
    "Database connections checked out of the pools.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "scimeta_db_pool_waiting",
    "Operations waiting for a connection from the pool (or for a new one to open).",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_OPEN = Gauge(
    "scimeta_subscriptions_open",
    "Subscriptions open.",
    multiprocess_mode="livesum",
)
SUBSCRIPTION_MESSAGES = Counter(
    "scimeta_subscription_messages",
    "Results sent over WebSockets (`next` messages).",
)
LISTENER_CONNECTED = Gauge(
    "scimeta_listener_connected",
    "Processes whose event listener is connected and listening.",
    multiprocess_mode="livesum",
)
LISTENER_RECONNECTS = Counter(
    "scimeta_listener_reconnects",
    "Times an event listener lost or could not open its connection and tried again.",
)
LISTENER_LAG = Gauge(
    "scimeta_listener_lag_events",
    "Events committed and announced that a process's listener has not read yet (the "
    "largest over processes).",
    multiprocess_mode="livemax",
)
CLAIMS = Counter(
    "scimeta_claims",
    "claimRun calls, by outcome: claimed (a run was leased) or empty (none to claim).",
    ["outcome"],
)
LEASE_EXPIRIES = Counter(
    "scimeta_lease_expiries",
    "Expired leases ended by the lease sweeper (and by claims taking a run over, where "
    "claims run in steps: SCIMETA_CLAIMS_IN_STEPS=1).",
)
ROWS_TRANSFERRED = Counter(
    "scimeta_transferred_rows",
    "Rows imported or exported, by direction (import, export) and what they are.",
    ["direction", "what"],
)
WORKER = Gauge(
    "scimeta_worker_up",
    "1 for each live server process, labelled by its pid.",
    multiprocess_mode="liveall",
)


def count_imported(what: str, rows: int) -> None:
    """Count `rows` rows of `what` (a table or kind, from a fixed set) imported."""
    ROWS_TRANSFERRED.labels("import", what).inc(rows)


def count_exported(what: str, rows: int) -> None:
    """Count `rows` rows of `what` (a table or kind, from a fixed set) exported."""
    ROWS_TRANSFERRED.labels("export", what).inc(rows)


class OperationNames:
    """The label of an operation name: the name itself for the first
    `MAX_OPERATION_NAMES` distinct names of the process, `(other)` after them, so that
    clients cannot grow the metrics without bound."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._seen:
            return name
        if not _NAME.fullmatch(name):
            return OTHER
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(name)
        return name


operation_names = OperationNames()


def code_label(code: str | None) -> str:
    if code is None:
        return NO_CODE
    return code if _CODE.fullmatch(code) else OTHER


def multiprocess_directory() -> str | None:
    directory = os.environ.get(MULTIPROC_VARIABLE)
    return directory or None


def mark_started() -> None:
    """Say this process is up (`scimeta_worker_up{pid=...}`)."""
    WORKER.set(1)


def mark_stopped() -> None:
    """Remove this process's live gauges: they are no longer true once it is gone. Done by
    the process itself as it shuts down (uvicorn offers no hook in the parent for a
    worker's exit); a process that dies leaves its last values until the directory is
    removed with the server."""
    directory = multiprocess_directory()
    if directory is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def registry() -> CollectorRegistry:
    """The registry a scrape reads: in multiprocess mode every process's files."""
    directory = multiprocess_directory()
    if directory is None:
        return REGISTRY
    from prometheus_client import multiprocess

    gathered = CollectorRegistry()
    multiprocess.MultiProcessCollector(gathered, path=directory)  # type: ignore[no-untyped-call]
    return gathered


def exposition() -> bytes:
    return generate_latest(registry())


def bearer_matches(authorization: str | None, secret: str) -> bool:
    expected = f"Bearer {secret}".encode()
    return hmac.compare_digest((authorization or "").strip().encode(), expected)


def _refused(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status,
        headers=headers or None,
    )


async def metrics_endpoint(request: Request) -> Response:
    """The metrics, to a caller allowed to read them (see the module's docstring)."""
    token: str | None = getattr(request.app.state, "metrics_token", None)
    authorization = request.headers.get("authorization")
    if token:
        if not bearer_matches(authorization, token):
            return _refused(
                401,
                "UNAUTHENTICATED",
                "/metrics needs the server's metrics token: send Authorization: Bearer "
                "<the value of SCIMETA_METRICS_TOKEN>.",
                **{"WWW-Authenticate": 'Bearer realm="scimeta-metrics"'},
            )
    else:
        refusal = await _refusal_for_caller(request, authorization)
        if refusal is not None:
            return refusal
    return Response(exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _refusal_for_caller(request: Request, authorization: str | None) -> Response | None:
    # imported here: the server's modules import this one for its counters
    from scimeta.auth.tokens import Unauthenticated
    from scimeta.faults import RETRY_AFTER_SECONDS, database_fault
    from scimeta.server.authn import www_authenticate

    authenticator = request.app.state.authenticator
    try:
        identity = await authenticator.identify(request.app.state.sessionmaker, authorization)
    except Unauthenticated as refused:
        reason = str((refused.extensions or {}).get("reason"))
        return _refused(
            401,
            "UNAUTHENTICATED",
            refused.message,
            **{"WWW-Authenticate": www_authenticate(reason)},
        )
    except Exception as exc:
        fault = database_fault(exc)
        if fault is None:
            raise
        return _refused(503, fault.code, fault.message, **{"Retry-After": str(RETRY_AFTER_SECONDS)})
    if not any(grant.project_id is None and grant.study_id is None for grant in identity.grants):
        return _refused(
            403,
            "FORBIDDEN",
            "/metrics shows the whole server's activity: it needs a token with a grant on "
            "everything (or the server's metrics token, SCIMETA_METRICS_TOKEN).",
        )
    return None


def engine_pool_hooks(pool: Any) -> Callable[[], None]:
    """Keep the pool gauges of `pool` current: in use at each checkout and checkin, and
    waiting while a checkout waits for a connection. Returns what undoes it."""
    from sqlalchemy import event

    def checked_out(*_: Any) -> None:
        POOL_IN_USE.set(pool.checkedout())

    def checked_in(*_: Any) -> None:
        # the event comes before the connection is back in the pool
        POOL_IN_USE.set(max(pool.checkedout() - 1, 0))

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    # SQLAlchemy has no event for a checkout that waits: the pool's own getter is wrapped
    # (on this pool object only), counting those inside it
    original = pool._do_get

    def waiting_get() -> Any:
        POOL_WAITING.inc()
        try:
            return original()
        finally:
            POOL_WAITING.dec()

    pool._do_get = waiting_get

    def undo() -> None:
        event.remove(pool, "checkout", checked_out)
        event.remove(pool, "checkin", checked_in)
        pool._do_get = original

    return undo
