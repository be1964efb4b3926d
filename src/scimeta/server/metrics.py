"""The `/metrics` endpoint of a server process, and how its values are kept
(the metrics themselves are `scimeta.metrics`).

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
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scimeta.metrics import POOL_IN_USE, POOL_WAITING, WORKER

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_TOKEN_VARIABLE = "SCIMETA_METRICS_TOKEN"


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
