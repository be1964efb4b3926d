"""Bounds on what one operation may ask for, checked once it is parsed and valid and
before anything runs: its depth, aliases and tokens, each counted with its fragments
expanded where they are spread (a fragment spread ten times counts ten times), and the
rows it may return.

The rows are estimated from the page sizes the document asks for: a nested page is per
parent, so `studies(first: 10) { nodes { participants(first: 100) { nodes { id } } } }`
may return 10 + 10 x 100 rows whatever the data. Over a limit, the operation is refused
with a code of its own and HTTP status 400, and nothing is executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    StringValueNode,
    Token,
    TokenKind,
    TypeMetaFieldDef,
    ValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_operation_ast,
    value_from_ast_untyped,
    visit,
)
from sqlalchemy.exc import DBAPIError
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from scimeta.errors import (
    REFUSAL_CODES,
    BadUserInput,
    ClientError,
    OperationNotChosen,
    OperationRefused,
    QueryTimeout,
    QueryTooCostly,
    QueryTooDeep,
    TooManyAliases,
    TooManyTokens,
)
from scimeta.faults import database_fault
from scimeta.lru import LRU
from scimeta.operation_limits import Limits
from scimeta.schema.filters import (
    RELATION_COST,
    FilterSize,
    filter_refusal,
    filter_size,
    is_where,
    variables_refusal,
)
from scimeta.schema.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from scimeta.strawberry_internals import graphql_schema, provided_operation_name
from scimeta.writes.database_errors import (
    client_error,
    is_aborted_transaction,
    is_statement_timeout,
)

# A connection's fields that read its page's rows (the others count or aggregate).
PAGE_FIELDS = frozenset({"edges", "nodes", "pageInfo"})
# What graphql-core's parser says when it stops at its token or comment limit.
_PARSER_LIMIT = re.compile(r"Document contains more than \d+ (?P<what>tokens|comments)\.")

# Fields of every query type that introspection adds; `__typename` selects nothing.
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


def app_state(context: Any, name: str) -> Any:
    """`app.state.<name>` of the application serving this request or WebSocket (None where
    there is none)."""
    request = getattr(context, "request", None)
    return getattr(request.app.state, name, None) if request is not None else None


def limits_of(context: Any) -> Limits:
    """The limits of the application serving this request or WebSocket (`app.state.limits`),
    or the defaults where it has none."""
    limits = app_state(context, "limits")
    return limits if isinstance(limits, Limits) else Limits()


@dataclass
class Measures:
    """The size of an operation with its fragments expanded. `cost` is the rows it may
    return: each page counts its size times the pages around it, each single object one."""

    tokens: int = 0
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    # the operation's `where` inputs: the deepest nesting and the values they compare
    filter: FilterSize = field(default_factory=FilterSize)


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
    tokens = _expanded_tokens(operation, fragments)
    if tokens > limits.max_tokens:
        return Measures(tokens=tokens)
    estimate = _Estimate(schema, fragments, operation, variables or {}, limits)
    return replace(estimate.run(), tokens=tokens)


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


def client_errors_behind(errors: list[GraphQLError], limits: Limits) -> list[ClientError | None]:
    """For each error, the client error it stands for, if any: the parser stopping at the
    token limit, a statement cancelled by the statement timeout, or a value the database
    refused. A statement refused because an earlier one failed stands for what the
    earlier one does (the statements of an operation share one transaction)."""
    found = [_client_error_behind(error, limits) for error in errors]
    cause = next(
        (
            client
            for error, client in zip(errors, found, strict=True)
            if client is not None and isinstance(error.original_error, DBAPIError)
        ),
        None,
    )
    return [
        cause
        if client is None
        and isinstance(error.original_error, DBAPIError)
        and is_aborted_transaction(error.original_error)
        else client
        for error, client in zip(errors, found, strict=True)
    ]


def _client_error_behind(error: GraphQLError, limits: Limits) -> ClientError | None:
    if isinstance(error, GraphQLSyntaxError):
        match = _PARSER_LIMIT.search(error.message)
        if match is None:
            return None
        return TooManyTokens(
            f"The document has more than {limits.max_tokens} {match['what']}, the limit. "
            "Send a smaller document, or split it in several.",
            limit=limits.max_tokens,
        )
    original = error.original_error
    if original is None:
        return None
    # the database's state, not the request: retry later (checked first, since a
    # connection that broke mid-statement also leaves an aborted transaction behind)
    fault = database_fault(original)
    if fault is not None:
        return fault
    if not isinstance(original, DBAPIError):
        return None
    if is_statement_timeout(original):
        seconds = f"{limits.statement_timeout_seconds:g}"
        return QueryTimeout(
            f"The query ran longer than {seconds} s; ask for less (smaller pages, fewer "
            "nested lists, a narrower where).",
            seconds=limits.statement_timeout_seconds,
        )
    return client_error(original)


def _deep_variables(variables: Any, max_depth: int) -> list[GraphQLError] | None:
    refused = variables_refusal(variables, max_depth)
    return None if refused is None else [refused]


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
            # before anything walks the variables recursively (set only when refused:
            # errors of None would have strawberry validate the document again)
            too_deep = _deep_variables(execution.variables, self.limits.max_variable_depth)
            if too_deep is not None:
                execution.pre_execution_errors = too_deep
        if document is not None and not execution.pre_execution_errors:
            unstorable = unstorable_text(document, execution.variables, execution.query)
            if unstorable is not None:
                execution.pre_execution_errors = [unstorable]
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


def _expanded_tokens(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> int:
    """The tokens of `operation` if every fragment spread were written out where it
    stands, counted with one pass over each definition's own tokens."""
    expanded: dict[str, int] = {}

    def fragment_tokens(name: str) -> int:
        if name not in expanded:
            selection_set = fragments[name].selection_set
            expanded[name] = _span_tokens(selection_set) + sum(
                fragment_tokens(spread) for spread in _spreads(selection_set)
            )
        return expanded[name]

    return _span_tokens(operation) + sum(
        fragment_tokens(spread) for spread in _spreads(operation.selection_set)
    )


def _span_tokens(node: OperationDefinitionNode | SelectionSetNode) -> int:
    location = node.loc
    assert location is not None, "documents are parsed with their locations"
    count = 0
    token: Token | None = location.start_token
    while token is not None:
        if token.kind is not TokenKind.COMMENT:
            count += 1
        if token is location.end_token:
            break
        token = token.next
    return count


def _spreads(selection_set: SelectionSetNode) -> Iterator[str]:
    """The names of the fragments spread anywhere in `selection_set`, once per spread."""
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
            yield from _spreads(selection.selection_set)


@dataclass(frozen=True)
class _Place:
    """Where in the operation a selection set is: how many times it is repeated
    (`multiplier`), the page size if it is a connection's, whether it is an edge (whose
    `node` is the page's row, counted with the page), how many items the lists of the
    root field's arguments hold (a root or payload list returns at most one per item),
    and whether it is introspection (answered from memory, so free)."""

    multiplier: int = 1
    depth: int = 0
    page: int | None = None
    edge: bool = False
    root_items: int | None = None
    costed: bool = True


class _Estimate:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments = fragments
        self.operation = operation
        defaults = {
            definition.variable.name.value: value_from_ast_untyped(definition.default_value)
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        self.variables = {**defaults, **variables}
        self.measures = Measures()

    def run(self) -> Measures:
        root = self.schema.get_root_type(self.operation.operation)
        assert root is not None, "validation checked that the schema has the operation's type"
        self.selections(self.operation.selection_set, root, _Place())
        return self.measures

    def selections(self, selection_set: SelectionSetNode, parent: Any, place: _Place) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, place)
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = selection.selection_set
            else:
                assert isinstance(selection, FragmentSpreadNode)
                fragment = self.fragments[selection.name.value]
                condition = fragment.type_condition
                inner = fragment.selection_set
            self.selections(
                inner, self.schema.get_type(condition.name.value) if condition else parent, place
            )

    def field(self, node: FieldNode, parent: Any, place: _Place) -> None:
        measures = self.measures
        depth = place.depth + 1
        measures.depth = max(measures.depth, depth)
        if node.alias is not None:
            measures.aliases += 1
        definition = self.definition(parent, node.name.value)
        if definition is None or node.selection_set is None:
            return
        named = get_named_type(definition.type)
        costed = place.costed and not named.name.startswith("__")
        self.filters(node, definition, place.multiplier, costed)
        is_root = depth == 1
        root_items = self.list_items(node, definition) if is_root else place.root_items
        # a payload's lists return what the mutation's input lists gave
        inherited_items = root_items if is_root and self.is_mutation else None
        name = node.name.value
        if place.page is not None and name in ("edges", "nodes"):
            rows = place.multiplier * place.page
            inner = _Place(rows, depth, edge=name == "edges", costed=costed)
        elif place.edge and name == "node":
            inner = _Place(place.multiplier, depth, costed=costed)
        elif self.is_connection(definition, named):
            size = self.page_size(node)
            fetched = not PAGE_FIELDS.isdisjoint(self.field_names(node.selection_set))
            self.add(place.multiplier * (size if fetched else 1), costed)
            inner = _Place(place.multiplier, depth, page=size, costed=costed)
        elif isinstance(_nullable(definition.type), GraphQLList):
            size = DEFAULT_PAGE_SIZE if root_items is None else root_items
            rows = place.multiplier * size
            self.add(rows, costed)
            inner = _Place(rows, depth, costed=costed)
        else:
            self.add(place.multiplier, costed)
            inner = _Place(place.multiplier, depth, root_items=inherited_items, costed=costed)
        self.selections(node.selection_set, named, inner)

    def filters(
        self, node: FieldNode, definition: GraphQLField, multiplier: int, costed: bool
    ) -> None:
        """Measure the `where` arguments of `node`. Each costs, for each time the field
        runs, the values it compares and a default page per relation it follows."""
        for argument in node.arguments or ():
            declared = definition.args.get(argument.name.value)
            if declared is None or not is_where(declared.type):
                continue
            size = filter_size(
                argument.value, declared.type, self.variables, self.limits.max_filter_depth
            )
            self.measures.filter.add(size)
            self.add(multiplier * (size.values + RELATION_COST * size.relations), costed)

    def add(self, rows: int, costed: bool) -> None:
        if costed:
            self.measures.cost += rows

    @property
    def is_mutation(self) -> bool:
        return self.operation.operation is OperationType.MUTATION

    def definition(self, parent: Any, name: str) -> GraphQLField | None:
        if name in _META_FIELDS:
            return _META_FIELDS[name]
        fields = getattr(parent, "fields", None)
        return None if fields is None else cast(GraphQLField | None, fields.get(name))

    @staticmethod
    def is_connection(definition: GraphQLField, named: Any) -> bool:
        return (
            "first" in definition.args
            and isinstance(named, GraphQLObjectType)
            and "edges" in named.fields
        )

    def page_size(self, node: FieldNode) -> int:
        """The page size a connection field asks for, as its resolver will take it (one
        over the maximum is refused there, with a clearer message than a cost)."""
        sizes = [
            size
            for size in (self.int_argument(node, "first"), self.int_argument(node, "last"))
            if size is not None
        ]
        return min(max(max(sizes, default=DEFAULT_PAGE_SIZE), 0), MAX_PAGE_SIZE)

    def int_argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return given if isinstance(given, int) and not isinstance(given, bool) else None
        return None

    def field_names(self, selection_set: SelectionSetNode) -> set[str]:
        """The fields `selection_set` selects, through its fragments."""
        names: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                names |= self.field_names(selection.selection_set)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                names |= self.field_names(self.fragments[selection.name.value].selection_set)
        return names

    def list_items(self, node: FieldNode, definition: GraphQLField) -> int:
        """The items of the lists among the arguments of `node`, a root field."""
        total = 0
        for argument in node.arguments or ():
            declared = definition.args.get(argument.name.value)
            if declared is not None:
                total += self.literal_items(argument.value, declared.type)
        return total

    def literal_items(self, value: ValueNode, type_: GraphQLInputType) -> int:
        if isinstance(value, VariableNode):
            return _value_items(self.variables.get(value.name.value), type_)
        type_ = _nullable(type_)
        if isinstance(type_, GraphQLList):
            if isinstance(value, ListValueNode):
                return len(value.values)
            return 0 if isinstance(value, NullValueNode) else 1
        if isinstance(type_, GraphQLInputObjectType) and isinstance(value, ObjectValueNode):
            return sum(
                self.literal_items(field.value, type_.fields[field.name.value].type)
                for field in value.fields
                if field.name.value in type_.fields
            )
        return 0


def _value_items(value: Any, type_: GraphQLInputType) -> int:
    """The items of the lists in a variable's value, walked along its declared type."""
    type_ = _nullable(type_)
    if isinstance(type_, GraphQLList):
        if isinstance(value, list):
            return len(value)
        return 0 if value is None else 1
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        return sum(
            _value_items(item, type_.fields[name].type)
            for name, item in value.items()
            if name in type_.fields
        )
    return 0


def _nullable(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def unstorable_text(
    document: DocumentNode, variables: Mapping[str, Any] | None, query: str | None = None
) -> ClientError | None:
    """An error if a string of the request holds what PostgreSQL text and JSON cannot
    store or compare: NUL, or half of a UTF-16 surrogate pair (JSON's `\\ud800`
    without its other half). Found before anything runs, so that it is the client's
    error with a code, not a database failure."""
    strings: list[str] = []
    _strings_of(variables or {}, strings)
    # a document's text holds no NUL or lone surrogate unless one of its strings does
    if query is None or "\\" in query or not query.isascii():
        strings += (node.value for node in _string_nodes(document))
    for text in strings:
        if "\x00" in text:
            return BadUserInput("Text may not contain the NUL character (\\u0000).")
        # ASCII holds no surrogate: most text is answered without a look at each character
        if not text.isascii() and any(0xD800 <= ord(character) <= 0xDFFF for character in text):
            return BadUserInput(
                "Text may not contain half of a surrogate pair (\\ud800 to \\udfff alone)."
            )
    return None


def _strings_of(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _strings_of(key, found)
            _strings_of(item, found)
    elif isinstance(value, list | tuple):
        kinds = set(map(type, value))
        if kinds <= _NUMBERS:
            return
        if kinds == {str}:
            # a column of text, taken whole
            found.extend(value)
            return
        for item in value:
            _strings_of(item, found)


_NUMBERS = frozenset({int, float, bool, type(None)})


def _string_nodes(document: DocumentNode) -> list[StringValueNode]:
    nodes: list[StringValueNode] = []

    class Collector(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            nodes.append(node)

    visit(document, Collector())
    return nodes
