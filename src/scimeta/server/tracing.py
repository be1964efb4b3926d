"""OpenTelemetry spans, when asked for and installed (`pip install 'scimeta[otel]'`).

On with `SCIMETA_TRACING=1`, or with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set unless `SCIMETA_TRACING=0`. Each process then
exports its spans over OTLP (HTTP/protobuf; the exporter reads the standard `OTEL_*`
variables: endpoint, headers, `OTEL_SERVICE_NAME`, ...):

- a server span per HTTP request or WebSocket (opentelemetry-instrumentation-asgi),
  named after its GraphQL operation (`query Runs`) and carrying the request id, the
  operation's name and type, the caller and the error code;
- a span per GraphQL operation (a batch has several), around its execution;
- a span per SQL statement: SQLAlchemy's (opentelemetry-instrumentation-sqlalchemy) and
  a compiled read's own, sent straight to the driver.

Spans carry no variables' values and no parameters of statements. Strawberry's own
OpenTelemetryExtension is not used: it records the document and every argument's value,
and a span per resolved field, and sees nothing of a compiled read, which strawberry does
not execute.

Without the packages nothing changes, and a server asked for tracing says once that they
are missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from scimeta.server.logs import RequestRecord

logger = logging.getLogger(__name__)

TRACING_VARIABLE = "SCIMETA_TRACING"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_STATEMENT_TEXT_CHARACTERS = 2048

_process_provider: Any = None


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    setting = env.get(TRACING_VARIABLE, "").strip().lower()
    if setting:
        return setting not in _FALSE_WORDS
    return any(env.get(variable, "").strip() for variable in ENDPOINT_VARIABLES)


def available() -> bool:
    try:
        import opentelemetry.instrumentation.asgi
        import opentelemetry.instrumentation.sqlalchemy
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def from_env(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """The process's tracing, if wanted and installed."""
    if not wanted(environ):
        return None
    if not available():
        logger.warning(
            "tracing is asked for (%s or an OTLP endpoint) but OpenTelemetry is not "
            "installed: pip install 'scimeta[otel]'; serving without spans",
            TRACING_VARIABLE,
        )
        return None
    return Tracing(_otlp_provider())


def _otlp_provider() -> Any:
    """One tracer provider per process, exporting over OTLP in batches."""
    global _process_provider
    if _process_provider is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "scimeta")})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _process_provider = provider
    return _process_provider


class Tracing:
    """Spans of one application, from `tracer_provider` (an OpenTelemetry SDK
    `TracerProvider`)."""

    def __init__(self, tracer_provider: Any) -> None:
        from opentelemetry import trace

        self.provider = tracer_provider
        self.tracer = trace.get_tracer("scimeta", tracer_provider=tracer_provider)
        self._engines: set[int] = set()

    def middleware(self) -> Any:
        """The outermost middleware: a server span per request."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from starlette.middleware import Middleware

        # the "send" and "receive" spans say nothing here: a response is one or two sends
        return Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )

    def current_span(self) -> Any:
        from opentelemetry import trace

        return trace.get_current_span()

    def instrument_engine(self, engine: Any) -> None:
        """A span per statement of `engine` (an AsyncEngine), once per engine."""
        if id(engine) in self._engines:
            return
        self._engines.add(id(engine))
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import get_meter

        meter = get_meter("scimeta")
        usage = meter.create_up_down_counter(
            "db.client.connections.usage", unit="connections", description="connections"
        )
        EngineTracer(self.tracer, engine.sync_engine, usage, enable_commenter=False)  # type: ignore[no-untyped-call]

    @contextlib.contextmanager
    def operation_span(self, query: str, operation_name: str | None) -> Iterator[None]:
        from scimeta.server.observe import describe

        with self.tracer.start_as_current_span("graphql operation") as span:
            try:
                yield
            finally:
                name, kind = describe(query, operation_name)
                span.update_name(f"{kind} {name}" if name else kind)
                span.set_attribute("graphql.operation.type", kind)
                if name:
                    span.set_attribute("graphql.operation.name", name)

    def start_statement_span(self, sql: str) -> Any:
        """A span for a compiled read's statement, ended when its answer is in."""
        span = self.tracer.start_span("SELECT (compiled read)")
        span.set_attribute("db.system.name", "postgresql")
        span.set_attribute("db.query.text", sql[:_STATEMENT_TEXT_CHARACTERS])
        return span

    def annotate_request(
        self, record: RequestRecord, name: str | None, kind: str, code: str | None
    ) -> None:
        """Name the request's server span after its operation, and add what it did."""
        # the server span, as it was current when the request reached the observer
        span = record.server_span
        if span is None or not span.is_recording():
            return
        if record.operations:
            span.update_name(f"{kind} {name}" if name else kind)
            span.set_attribute("graphql.operation.type", kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
        span.set_attribute("scimeta.request_id", record.request_id)
        if record.caller is not None:
            span.set_attribute("enduser.id", record.caller)
        if code is not None:
            span.set_attribute("scimeta.error_code", code)
        span.set_attribute("scimeta.sql_statements", record.statements)
