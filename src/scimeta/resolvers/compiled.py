"""Compiled reads in the operation's lifecycle: after parsing, validation and the limits,
a query the planner compiles is answered by its one statement, and every other
operation by the executor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import OperationDefinitionNode, get_operation_ast
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from scimeta.planner.execute import (
    Answer,
    CompiledRead,
    CompiledReads,
    JSONText,
    access_key,
    variables_key,
)
from scimeta.resolvers.admission import bounded
from scimeta.resolvers.limits import app_state, cached_measure, limits_of
from scimeta.strawberry_internals import graphql_schema, provided_operation_name

# A client that sends `Scimeta-Report: path` learns which path answered, in
# `extensions.scimeta.path`: "compiled" or "executor".
REPORT_HEADER = "scimeta-report"

_compiled_reads: dict[int, CompiledReads] = {}
# Set in the task of a request whose compiled statement could not answer.
_executor_answers: ContextVar[bool] = ContextVar("executor_answers", default=False)


def compiled_reads_of(schema: Any) -> CompiledReads:
    """The statement cache of `schema`, shared by the requests of the process."""
    cache = _compiled_reads.get(id(schema))
    if cache is None:
        cache = _compiled_reads[id(schema)] = CompiledReads(schema)
    return cache


def request_key(
    query: str, operation_name: str | None, variables: Any, context: Any
) -> tuple[Any, ...] | None:
    """What decides a request's answer besides the data, or None for one that is not
    answered by a compiled statement (compiled reads off, not over HTTP)."""
    request = getattr(context, "request", None)
    if not isinstance(request, Request) or not app_state(context, "compiled_reads"):
        return None
    try:
        variables_text = variables_key(variables)
    except (TypeError, ValueError):
        return None
    return (
        query,
        operation_name,
        variables_text,
        access_key(context.identity.access),
        limits_of(context),
    )


def with_report(extensions: dict[str, Any], request: Any, path: str) -> dict[str, Any]:
    if "path" not in request.headers.get(REPORT_HEADER, "").lower():
        return extensions
    return {**extensions, "scimeta": {"path": path}}


async def compiled_answer(
    schema: Any, query: str, operation_name: str | None, variables: Any, context: Any
) -> dict[str, Any] | None:
    """The response body of a request answered by a compiled statement before, from that
    statement alone; None where the full pipeline must answer."""
    key = request_key(query, operation_name, variables, context)
    answer = None if key is None else compiled_reads_of(schema).answer(key)
    if answer is None:
        return None
    cost = answer.extensions.get("cost", {}).get("estimated")
    async with bounded(limits_of(context), app_state(context, "turns"), cost):
        chunks = await answer.read.run_alone(context.sessionmaker)
    if chunks is None:
        # the executor answers, without running the statement again
        _executor_answers.set(True)
        return None
    body: dict[str, Any] = {"data": JSONText(chunks)}
    extensions = with_report(answer.extensions, context.request, "compiled")
    if extensions:
        body["extensions"] = extensions
    return body


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
            and not _executor_answers.get()
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
                chunks = await read.run(context.session)
                if chunks is not None:
                    execution.result = GraphQLExecutionResult(data=JSONText(chunks))  # type: ignore[arg-type]
                    self.path = "compiled"
                    self.remember(read, operation)
        yield

    def remember(self, read: CompiledRead, operation: OperationDefinitionNode) -> None:
        execution = self.execution_context
        context = execution.context
        key = request_key(
            execution.query or "",
            provided_operation_name(execution),
            execution.variables,
            context,
        )
        if key is None or execution.graphql_document is None:
            return
        limits = limits_of(context)
        measures = cached_measure(
            graphql_schema(execution.schema),
            execution.query or "",
            execution.graphql_document,
            operation,
            execution.variables,
            limits,
        )
        extensions = {"cost": {"estimated": measures.cost, "budget": limits.max_cost}}
        compiled_reads_of(execution.schema).remember(key, Answer(read, extensions))

    def get_results(self) -> dict[str, Any]:
        request = getattr(self.execution_context.context, "request", None)
        if self.path is None or not isinstance(request, Request):
            return {}
        return with_report({}, request, self.path)
