"""Bounds on what one operation may ask for, checked once it is parsed and valid and
before anything runs: its depth, aliases and tokens, each counted with its fragments
expanded where they are spread (a fragment spread ten times counts ten times), the
`where` inputs, and the rows it may return (`scimeta.resolvers.measures`). Over a limit,
the operation is refused with a code of its own and HTTP status 400, and nothing is
executed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, cast

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    get_operation_ast,
)
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from scimeta.errors import (
    REFUSAL_CODES,
    OperationNotChosen,
    OperationRefused,
    QueryTooCostly,
    QueryTooDeep,
    TooManyAliases,
    TooManyTokens,
)
from scimeta.lru import LRU
from scimeta.operation_limits import Limits
from scimeta.resolvers.input_checks import input_refusal
from scimeta.resolvers.measures import Measures, estimate
from scimeta.resolvers.tokens import expanded_tokens
from scimeta.schema.filters import filter_refusal
from scimeta.strawberry_internals import graphql_schema, provided_operation_name


def app_state(context: Any, name: str) -> Any:
    """`app.state.<name>` of the application serving this request or WebSocket (None where
    there is none)."""
    request = getattr(context, "request", None)
    return getattr(request.app.state, name, None) if request is not None else None


def limits_of(context: Any) -> Limits:
    """The limits the operation's context carries, or the defaults where it has none."""
    limits = getattr(context, "limits", None)
    return limits if isinstance(limits, Limits) else Limits()


def refusal(measures: Measures, limits: Limits) -> OperationRefused | None:
    """The error refusing an operation of these measures, or None if it is within limits."""
    if measures.tokens > limits.max_tokens:
        return TooManyTokens(
            f"The operation has {measures.tokens} tokens with its fragments expanded; the "
            f"limit is {limits.max_tokens}. Send a smaller operation, or split it in several.",
            limit=limits.max_tokens,
            count=measures.tokens,
        )
    if measures.depth > limits.max_depth:
        return QueryTooDeep(
            f"The operation nests fields {measures.depth} deep with its fragments expanded; "
            f"the limit is {limits.max_depth}. Ask for fewer levels, and fetch the deeper "
            "ones with node(id) in a second query.",
            limit=limits.max_depth,
            count=measures.depth,
        )
    if measures.aliases > limits.max_aliases:
        return TooManyAliases(
            f"The operation has {measures.aliases} aliased fields with its fragments "
            f"expanded; the limit is {limits.max_aliases}. Alias fewer fields, or split the "
            "operation in several.",
            limit=limits.max_aliases,
            count=measures.aliases,
        )
    refused = filter_refusal(measures.filter, limits.max_filter_depth, limits.max_filter_values)
    if refused is not None:
        return refused
    if measures.cost > limits.max_cost:
        return QueryTooCostly(
            f"The operation may return {measures.cost} rows (each page's size times the "
            f"pages it is nested in); the budget is {limits.max_cost}. Ask for smaller "
            "pages (first, last) or fewer nested lists, and fetch more with the cursors.",
            estimated=measures.cost,
            budget=limits.max_cost,
        )
    return None


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> Measures:
    """Measure a valid operation. Its tokens are counted first, from each definition's own
    tokens and how often it is spread, and the rest, which walks the expanded operation,
    only within the token limit: a few fragments spread in each other can stand for more
    fields than there are atoms in the world."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    tokens = expanded_tokens(operation, fragments)
    if tokens > limits.max_tokens:
        return Measures(tokens=tokens)
    measures = estimate(schema, fragments, operation, variables or {}, limits)
    return replace(measures, tokens=tokens)


# Frontends, workers and dashboards send the same few documents with the same variables
# again and again: each is measured once.
MEASURES_CACHE_SIZE = 1024
_MEASURES: LRU[tuple[Any, ...], Measures] = LRU(MEASURES_CACHE_SIZE)


def cached_measure(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> Measures:
    """`measure`, remembered by the document's text, operation, variables and limits."""
    try:
        encoded = json.dumps(variables, sort_keys=True) if variables else ""
    except (TypeError, ValueError):
        return measure(schema, document, operation, variables, limits)
    name = operation.name.value if operation.name else None
    key = (id(schema), query, name, encoded, limits.max_tokens, limits.max_filter_depth)
    return _MEASURES.get_or_make(
        key, lambda: measure(schema, document, operation, variables, limits)
    )


def refuse_with_status(errors: list[GraphQLError], context: Any) -> None:
    """Answer HTTP 400 if the operation was refused for a limit: it was not executed."""
    response = getattr(context, "response", None)
    if isinstance(response, Response) and any(
        isinstance(error, OperationRefused) or (error.extensions or {}).get("code") in REFUSAL_CODES
        for error in errors
    ):
        response.status_code = 400


class QueryLimitsExtension(SchemaExtension):
    """Bounds the parser by the token limit, refuses an operation over a limit, and
    reports every operation's estimated cost in `extensions.cost`.

    It measures only documents that passed validation (a fragment spread in itself
    would never end), and validates them itself unless `ValidationCache` did. That cache
    must come before it among the schema's extensions, or it would replace the refusal
    with its own (empty) list of errors.
    """

    def __init__(self) -> None:
        self.limits = Limits()
        self.cost: int | None = None

    def on_operation(self) -> Iterator[None]:
        self.limits = limits_of(self.execution_context.context)
        # strawberry's type of the options knows only `max_tokens`, which graphql-core
        # deprecates in favour of these two
        options = cast(dict[str, Any], self.execution_context.parse_options)
        options["max_lexical_tokens"] = self.limits.max_tokens
        options["max_comments"] = self.limits.max_tokens
        yield

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None and execution.pre_execution_errors is None:
            execution.pre_execution_errors = validate_document(
                graphql_schema(execution.schema), document, execution.validation_rules
            )
        if document is not None and not execution.pre_execution_errors:
            # set only when refused: errors of None would have strawberry validate the
            # document again
            refused_input = input_refusal(
                document, execution.variables, execution.query, self.limits.max_variable_depth
            )
            if refused_input is not None:
                execution.pre_execution_errors = [refused_input]
        operation = get_operation_ast(document, execution.operation_name) if document else None
        # the name the client gave: strawberry takes the first operation's when none was
        given_name = provided_operation_name(execution)
        if (
            document is not None
            and given_name is None
            and get_operation_ast(document) is None
            and not execution.pre_execution_errors
        ):
            # several operations and no name: the GraphQL spec runs none of them
            execution.pre_execution_errors = [
                OperationNotChosen(
                    "The document has several operations: name the one to run in `operationName`."
                )
            ]
        if document is not None and operation is not None and not execution.pre_execution_errors:
            measures = cached_measure(
                graphql_schema(execution.schema),
                execution.query or "",
                document,
                operation,
                execution.variables,
                self.limits,
            )
            if measures.tokens <= self.limits.max_tokens:
                self.cost = measures.cost
            refused = refusal(measures, self.limits)
            if refused is not None:
                # a new list: the validation cache shares the one it returned
                execution.pre_execution_errors = [refused]
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"estimated": self.cost, "budget": self.limits.max_cost}}
