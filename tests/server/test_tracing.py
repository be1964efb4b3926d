"""OpenTelemetry spans (the `otel` extra): a request's server span named after its
operation, the operation's span, and its SQL statements' spans, in one trace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.conftest import COMPILED_READS, DatabaseFactory
from tests.live.conftest import MESSAGE_TIMEOUT, STARTUP_TIMEOUT, bound_socket

from scimeta.server import observe, tracing
from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.server.settings import Settings


def test_tracing_is_on_when_asked_for_or_an_endpoint_is_set() -> None:
    assert not tracing.wanted({})
    assert tracing.wanted({"SCIMETA_TRACING": "1"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert not tracing.wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "SCIMETA_TRACING": "0"}
    )


@contextlib.asynccontextmanager
async def traced_server(databases: DatabaseFactory, provider: Any) -> AsyncIterator[str]:
    """The application on a database of its own, served by uvicorn in this event loop,
    its spans going to `provider`."""
    engine = await databases.migrated_engine()
    app = create_app(
        Settings(lease_sweep_seconds=0),
        sessionmaker=create_sessionmaker(engine),
        tracer_provider=provider,
    )
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, STARTUP_TIMEOUT)
        finally:
            sock.close()
            await engine.dispose()


async def test_a_request_its_operation_and_its_statements_are_spans_of_one_trace(
    databases: DatabaseFactory,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    query = "query TracedRuns { runs(first: 2) { nodes { id } } }"
    try:
        async with (
            traced_server(databases, provider) as base,
            httpx.AsyncClient(base_url=base, timeout=MESSAGE_TIMEOUT) as http,
        ):
            # twice: a compiled read is answered from its cached statement the second time
            for _ in range(2):
                response = await http.post(
                    "/graphql", json={"query": query}, headers={"X-Request-ID": "traced-1"}
                )
                assert response.status_code == 200, response.text
    finally:
        observe.use_tracing(None)
        provider.shutdown()

    spans = exporter.get_finished_spans()
    servers = [span for span in spans if span.name == "query TracedRuns" and span.parent is None]
    assert len(servers) == 2, [span.name for span in spans]
    for server_span in servers:
        attributes = dict(server_span.attributes or {})
        assert attributes["graphql.operation.name"] == "TracedRuns"
        assert attributes["scimeta.request_id"] == "traced-1"
        trace_id = server_span.context.trace_id
        inside = [
            span for span in spans if span.context.trace_id == trace_id and span is not server_span
        ]
        operations = [span for span in inside if span.name == "query TracedRuns"]
        assert len(operations) == 1
        statements = [
            span
            for span in inside
            if "db.query.text" in (span.attributes or {})
            or "db.statement" in (span.attributes or {})
        ]
        assert statements, [span.name for span in inside]
        # no variables' values or statement parameters
        for span in inside:
            assert not any("param" in key for key in (span.attributes or {}))
    if COMPILED_READS:
        assert any(span.name == "SELECT (compiled read)" for span in spans)
