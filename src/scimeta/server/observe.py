"""What the server records of each request: its request id, its log line, its metrics and
(with tracing on) its spans.

`RequestObserver` is the outermost ASGI middleware. It takes the client's `X-Request-ID`
(or makes one), returns it in the response's header, and holds the request's
`RequestRecord` in a context variable for the rest of the server to fill in: the GraphQL
view names the operations and the error codes of the answer (`operation`, `note_body`);
SQLAlchemy's cursor events and the compiled reads' `statement_listeners` count the
statements and their time. When the request ends it writes one log line and its metrics.

A statement of a compiled read is sent on a pooled connection without SQLAlchemy's
cursor events; it is counted when sent, and its time runs until its connection goes back
to the pool, right after its answer arrives.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import weakref
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scimeta import metrics
from scimeta.planner.execute import statement_listeners
from scimeta.server.logs import (
    REQUEST_ID_HEADER,
    REQUEST_LOGGER,
    RequestRecord,
    current_request,
    request_id_of,
)
from scimeta.server.metrics import engine_pool_hooks

logger = logging.getLogger(REQUEST_LOGGER)

GRAPHQL_PATH = "/graphql"
# probes and scrapers call these every few seconds: their lines are DEBUG
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
BACKGROUND = "background"
WEBSOCKET = "websocket"
# a WebSocket closed for the server's failure (1011) or an outage (1013, try again later)
FAILING_CLOSE_CODES = frozenset({"CLOSE_1011", "CLOSE_1013"})
# documents longer than this are described (parsed for their operation) without caching
_CACHED_DOCUMENT_CHARACTERS = 64 * 1024
_MAX_DESCRIBED_TOKENS = 20_000


class RequestObserver:
    """ASGI middleware: see the module's docstring. `tracing` (a
    `scimeta.server.tracing.Tracing`) adds the request's attributes to its span."""

    def __init__(self, app: ASGIApp, *, tracing: Any = None) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        websocket = scope["type"] == "websocket"
        record = RequestRecord(
            request_id=request_id_of(headers.get(REQUEST_ID_HEADER)),
            method="WS" if websocket else scope.get("method", "GET"),
            path=scope.get("path", ""),
            websocket=websocket,
        )
        if self.tracing is not None:
            record.server_span = self.tracing.current_span()
        token = current_request.set(record)
        raw_id = record.request_id.encode("latin-1")

        async def sending(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                record.status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, record.request_id)
            elif kind == "websocket.accept":
                record.status = 101
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            elif kind == "websocket.close":
                if record.status is None:
                    record.status = 403
                record.codes.append(f"CLOSE_{message.get('code', 1000)}")
            if self.tracing is not None and (
                kind == "websocket.close"
                or (kind == "http.response.body" and not message.get("more_body", False))
            ):
                # the server span ends with the response's last part
                name, operation_type = describe_record(record)
                code = record.codes[0] if record.codes else None
                self.tracing.annotate_request(record, name, operation_type, code)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            if record.status is None:
                record.status = 500
            raise
        finally:
            current_request.reset(token)
            finish(record)


def finish(record: RequestRecord) -> None:
    """Write the request's log line and metrics."""
    _end_statement(record)
    seconds = time.perf_counter() - record.started
    name, kind = describe_record(record)
    code = record.codes[0] if record.codes else None
    status = record.status or 0
    if record.path == GRAPHQL_PATH and not record.websocket:
        operation = metrics.operation_names.label(name)
        metrics.REQUESTS.labels(operation, kind, str(status), metrics.code_label(code)).inc()
        metrics.REQUEST_SECONDS.labels(operation, kind).observe(seconds)
        if record.statements:
            metrics.SQL_STATEMENTS.labels(operation, kind).inc(record.statements)
            metrics.SQL_SECONDS.labels(operation, kind).inc(record.sql_seconds)
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "method": record.method,
        "path": record.path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    if record.operations:
        fields["operation"] = name
        fields["type"] = kind
    if record.caller is not None:
        fields["caller"] = record.caller
    if record.statements:
        fields["statements"] = record.statements
        fields["sql_ms"] = round(record.sql_seconds * 1000, 3)
    if code is not None:
        fields["code"] = code
    if record.error_id is not None:
        fields["error_id"] = record.error_id
    if record.websocket:
        fields["messages"] = record.messages
    level = logging.DEBUG if record.path in QUIET_PATHS else logging.INFO
    if not logger.isEnabledFor(level):
        return
    # a failure of the server's (5xx) is summarised while it repeats; any other line is
    # written each time
    failing = status >= 500 or (code is not None and code in FAILING_CLOSE_CODES)
    summary_key = (record.method, record.path, name, status, code) if failing else None
    logger.log(
        level,
        "%s",
        _text(record, fields, seconds),
        extra={"request": fields, "summary_key": summary_key},
    )


def _text(record: RequestRecord, fields: dict[str, Any], seconds: float) -> str:
    """The request line for a person: `POST /graphql 200 3.1 ms query Runs sql 1 (0.9
    ms) caller local code ... id ...`."""
    parts = [record.method, record.path, str(fields["status"]), f"{seconds * 1000:.1f} ms"]
    if "operation" in fields:
        parts += [fields["type"], fields["operation"] or metrics.ANONYMOUS]
    if record.statements:
        parts.append(f"sql {record.statements} ({record.sql_seconds * 1000:.1f} ms)")
    if record.websocket:
        parts.append(f"messages {record.messages}")
    for name in ("code", "error_id", "caller"):
        if name in fields:
            parts.append(f"{name.replace('_', ' ')} {fields[name]}")
    parts.append(f"id {record.request_id}")
    return " ".join(parts)


def describe_record(record: RequestRecord) -> tuple[str | None, str]:
    """The request's operation name and type (`query`, `mutation`, `subscription`;
    `none` for a request that names no operation that can run; `batch` for several)."""
    if record.websocket:
        return None, WEBSOCKET
    if not record.operations:
        return None, "none"
    if len(record.operations) > 1:
        return "(batch)", "batch"
    return describe(*record.operations[0])


def describe(query: str, operation_name: str | None) -> tuple[str | None, str]:
    if len(query) > _CACHED_DOCUMENT_CHARACTERS:
        return _describe(query, operation_name)
    return _cached_describe(query, operation_name)


def _describe(query: str, operation_name: str | None) -> tuple[str | None, str]:
    try:
        document = parse(query, no_location=True, max_tokens=_MAX_DESCRIBED_TOKENS)
    except (GraphQLError, RecursionError):
        return operation_name, "none"
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if operation_name:
        chosen = next(
            (op for op in operations if op.name is not None and op.name.value == operation_name),
            None,
        )
    else:
        chosen = operations[0] if len(operations) == 1 else None
    if chosen is None:
        return operation_name, "none"
    return (chosen.name.value if chosen.name else None), chosen.operation.value


_cached_describe = functools.lru_cache(maxsize=1024)(_describe)


@contextlib.contextmanager
def operation(query: str, operation_name: str | None, caller: str | None) -> Iterator[None]:
    """One GraphQL operation of the current request: named for its line and metrics, and
    (with tracing on) a span of its own."""
    record = current_request.get()
    if record is not None:
        record.operations.append((query, operation_name))
        record.caller = caller
    tracing = _tracing_of_process()
    if tracing is None:
        yield
        return
    with tracing.operation_span(query, operation_name):
        yield


def note_body(body: Any) -> None:
    """The error codes (and an internal error's id) of a response body about to be sent."""
    record = current_request.get()
    if record is None:
        return
    for item in body if isinstance(body, list) else [body]:
        if not isinstance(item, dict):
            continue
        for error in item.get("errors") or ():
            extensions = error.get("extensions") if isinstance(error, dict) else None
            if not isinstance(extensions, dict):
                continue
            code = extensions.get("code")
            if isinstance(code, str):
                record.codes.append(code)
            error_id = extensions.get("errorId")
            if isinstance(error_id, str) and record.error_id is None:
                record.error_id = error_id


def note_message(message: Any) -> None:
    """A message about to be sent on a WebSocket."""
    if isinstance(message, dict) and message.get("type") == "next":
        metrics.SUBSCRIPTION_MESSAGES.inc()
        record = current_request.get()
        if record is not None:
            record.messages += 1


# SQL: every engine's statements (class-level events), and compiled reads' statements


def _statement_started(
    connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    if context is not None:
        context._scimeta_sent = time.perf_counter()
    record = current_request.get()
    if record is None or record.websocket:
        operation, kind = ("", WEBSOCKET) if record is not None else ("", BACKGROUND)
        metrics.SQL_STATEMENTS.labels(operation, kind).inc()
        return
    _end_statement(record)
    record.statements += 1


def _statement_answered(
    connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    sent = getattr(context, "_scimeta_sent", None)
    if sent is None:
        return
    seconds = time.perf_counter() - sent
    record = current_request.get()
    if record is None or record.websocket:
        kind = WEBSOCKET if record is not None else BACKGROUND
        metrics.SQL_SECONDS.labels("", kind).inc(seconds)
        return
    record.sql_seconds += seconds


def _compiled_statement_sent(sql: str) -> None:
    record = current_request.get()
    if record is None:
        metrics.SQL_STATEMENTS.labels("", BACKGROUND).inc()
        return
    _end_statement(record)
    record.statements += 1
    record.statement_sent = time.perf_counter()
    tracing = _tracing_of_process()
    if tracing is not None:
        record.statement_span = tracing.start_statement_span(sql)


def _connection_returned(*_: Any) -> None:
    record = current_request.get()
    if record is not None:
        _end_statement(record)


def _end_statement(record: RequestRecord) -> None:
    """The compiled statement in flight, if any, was answered by now."""
    sent = record.statement_sent
    if sent is None:
        return
    record.statement_sent = None
    record.sql_seconds += time.perf_counter() - sent
    span, record.statement_span = record.statement_span, None
    if span is not None:
        span.end()


_sql_hooked = False
_pools: weakref.WeakSet[Any] = weakref.WeakSet()
_process_tracing: list[Any] = []


def _tracing_of_process() -> Any:
    return _process_tracing[0] if _process_tracing else None


def use_tracing(tracing: Any) -> None:
    """Spans for the operations and compiled statements of this process from now on
    (None: none)."""
    _process_tracing[:] = [] if tracing is None else [tracing]


def hook_sql() -> None:
    """Count every engine's statements, and compiled reads', for the request sending them
    (once per process)."""
    global _sql_hooked
    if _sql_hooked:
        return
    _sql_hooked = True
    event.listen(Engine, "before_cursor_execute", _statement_started)
    event.listen(Engine, "after_cursor_execute", _statement_answered)
    statement_listeners.append(_compiled_statement_sent)


def instrument(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Hook the SQL counters, and the pool gauges of the sessions' engine (once per
    pool)."""
    hook_sql()
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        return
    pool = bind.sync_engine.pool
    if pool in _pools:
        return
    _pools.add(pool)
    engine_pool_hooks(pool)
    event.listen(pool, "checkin", _connection_returned)
