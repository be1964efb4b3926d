"""Compiled reads in the operation's lifecycle: after parsing, validation and the limits,
a query the planner compiles is answered by its one statement, and every other
operation by the executor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import get_operation_ast
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from scimeta.planner.execute import CompiledReads, JSONText
from scimeta.resolvers.limits import app_state

# A client that sends `Scimeta-Report: path` learns which path answered, in
# `extensions.scimeta.path`: "compiled" or "executor".
REPORT_HEADER = "scimeta-report"

_compiled_reads: dict[int, CompiledReads] = {}


def compiled_reads_of(schema: Any) -> CompiledReads:
    """The statement cache of `schema`, shared by the requests of the process."""
    cache = _compiled_reads.get(id(schema))
    if cache is None:
        cache = _compiled_reads[id(schema)] = CompiledReads(schema)
    return cache


class CompiledReadsExtension(SchemaExtension):
    """Answers a query over HTTP with its compiled statement where the planner can."""

    def __init__(self) -> None:
        self.path: str | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        request = getattr(context, "request", None)
        self.path = "executor"
        if (
            isinstance(request, Request)
            and app_state(context, "compiled_reads")
            and execution.operation_type is OperationType.QUERY
            and execution.graphql_document is not None
            and not execution.pre_execution_errors
        ):
            operation = get_operation_ast(execution.graphql_document, execution.operation_name)
            assert operation is not None, "validation found the operation"
            read = compiled_reads_of(execution.schema).get(
                execution.query or "",
                execution.graphql_document,
                operation,
                execution.variables,
                context.identity.access,
            )
            if read is not None:
                data = await read.run(context.session)
                if data is not None:
                    execution.result = GraphQLExecutionResult(data=JSONText(data))  # type: ignore[arg-type]
                    self.path = "compiled"
        yield

    def get_results(self) -> dict[str, Any]:
        request = getattr(self.execution_context.context, "request", None)
        if self.path is None or not isinstance(request, Request):
            return {}
        if "path" not in request.headers.get(REPORT_HEADER, "").lower():
            return {}
        return {"scimeta": {"path": self.path}}
