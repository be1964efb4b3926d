"""Property-based fuzzing of /graphql: documents generated from the schema, valid and
broken, and malformed request bodies must never crash the server or show its insides.

Every response must have a status below 500 and a JSON body, every error in it an
`extensions.code` other than INTERNAL_SERVER_ERROR (the in-band form of a 500: the
server did not anticipate the request), and no message may carry a traceback, SQL, the
database driver's words or an exception's repr. Those tell a client nothing it can act on
and tell an attacker how the server is built.

Each example runs against demo data inside a transaction that is rolled back afterwards,
so mutations really write and every example sees the same database. The runs are
derandomized, so that CI sends the same requests every time; SCIMETA_FUZZ_EXAMPLES sets
the number of examples of each test for a longer search.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

import graphql
import httpx
import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from scimeta.demo import load_demo
from scimeta.resolvers.schema import schema
from scimeta.schema.scalars import LONG_MAX, LONG_MIN
from scimeta.server.app import create_app
from tests.conftest import DatabaseFactory

SDL = schema.as_str()
SCHEMA = graphql.build_schema(SDL)
NODE_INTERFACE = SCHEMA.type_map["Node"]
assert isinstance(NODE_INTERFACE, graphql.GraphQLInterfaceType)
NODE_TYPES = sorted(node.name for node in SCHEMA.get_possible_types(NODE_INTERFACE))

EXAMPLES = int(os.environ.get("SCIMETA_FUZZ_EXAMPLES") or 0)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        # the fixtures are shared by the examples on purpose (each example opens its own
        # connection and transaction); documents generated from a schema this size are big
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# --- values --------------------------------------------------------------------------

# Text that naive handling breaks on: NUL (PostgreSQL's text and jsonb refuse it), LIKE's
# wildcards and escape character, quotes, a direction override, a text longer than any
# column's limit.
AWKWARD_TEXT = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "%", "_", "\\", "'", '"', "\u202e", "x" * 5000]
)
TEXT = st.text(max_size=30) | AWKWARD_TEXT
# A lone surrogate has no UTF-8 form. The parser refuses it in a document, but a JSON
# variable can carry it all the way to the database driver.
VARIABLE_TEXT = TEXT | st.just("\udc80")
# object keys written in a document must be GraphQL names; in variables any string goes
NAMES = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,11}", fullmatch=True)
# integers just inside and outside the widths of Int, Long and PostgreSQL's integers
EDGE_INTEGERS = st.sampled_from(
    [0, -1, 2**31 - 1, 2**31, -(2**31) - 1, LONG_MAX, LONG_MAX + 1, LONG_MIN - 1, 10**30]
)
INTEGERS = st.integers() | EDGE_INTEGERS
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def json_values(keys: st.SearchStrategy[str], text: st.SearchStrategy[str]) -> Any:
    return st.recursive(
        st.none() | st.booleans() | INTEGERS | FLOATS | text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    )


LITERAL_JSON: st.SearchStrategy[Any] = json_values(NAMES, TEXT)
ANY_JSON: st.SearchStrategy[Any] = json_values(VARIABLE_TEXT, VARIABLE_TEXT)


def global_id(type_name: str, key: object) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


# Demo data at scale 1 has up to a few hundred rows of a type, numbered from 1 in a new
# database: small keys mostly name rows that exist. Any well-formed id passes GraphQL's
# coercion; those of rows that cannot exist or of types that are no node are refused by
# the resolvers, and those that are not ids at all while the document is validated.
IDS = st.one_of(
    st.builds(global_id, st.sampled_from(NODE_TYPES), st.integers(1, 40)),
    st.builds(global_id, st.sampled_from(NODE_TYPES), EDGE_INTEGERS | TEXT),
    st.builds(global_id, NAMES, st.integers(1, 40)),
)
NOT_IDS = TEXT | INTEGERS

# Cursors are base64 JSON of [ordering, sort values]: well-formed ones with values of
# any type and size reach the keyset condition that a random string never passes.
ORDERINGS = [
    "id:asc",
    "id:desc",
    "number:asc,id:asc",
    "sequence:asc,id:asc",
    "created_at:desc,id:desc",
    "name:asc,id:asc",
]


def cursor(ordering: str, values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([ordering, values]).encode()).decode()


CURSORS = st.builds(
    cursor, st.sampled_from(ORDERINGS), st.lists(INTEGERS | FLOATS | TEXT, max_size=3)
)

UTC_OFFSETS: st.SearchStrategy[tzinfo] = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)

# Values each scalar takes, and values it refuses: the library knows only GraphQL's own
# scalars. Operations that should run take the first; a value of the second anywhere in
# a document makes the server refuse it, often before a resolver runs.
SCALAR_VALUES: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "ID": (IDS, NOT_IDS),
    "String": (TEXT | CURSORS | IDS, INTEGERS | st.booleans()),
    "Long": (
        st.integers(LONG_MIN, LONG_MAX)
        | st.integers(LONG_MIN, LONG_MAX).map(str)
        | st.sampled_from([LONG_MIN, LONG_MAX, str(LONG_MAX)]),
        st.sampled_from([LONG_MIN - 1, LONG_MAX + 1, str(10**30)]) | FLOATS | TEXT,
    ),
    "DateTime": (
        st.datetimes(timezones=st.none() | st.just(UTC) | UTC_OFFSETS).map(datetime.isoformat)
        | st.dates().map(date.isoformat)
        # instants before year 1 or after 9999 once moved to UTC
        | st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]),
        st.sampled_from(["2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z"]) | TEXT | INTEGERS,
    ),
    "JSON": (
        st.dictionaries(NAMES, LITERAL_JSON, max_size=4),
        LITERAL_JSON.filter(lambda value: not isinstance(value, dict)),
    ),
}


def literal(value: Any) -> graphql.ValueNode:
    """`value` (JSON-like) written in GraphQL syntax."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(literal(item) for item in value))
    return graphql.ObjectValueNode(
        fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=literal(item))
            for key, item in value.items()
        )
    )


VALID_SCALARS = {name: valid.map(literal) for name, (valid, _) in SCALAR_VALUES.items()}
ANY_SCALARS = {
    name: (valid | invalid).map(literal) for name, (valid, invalid) in SCALAR_VALUES.items()
}


def edge_scalars(text: st.SearchStrategy[str]) -> dict[str, st.SearchStrategy[Any]]:
    """Only the values at the edges of what each scalar takes, so that nearly every
    operation carries one as far as the database."""
    edge_cursors = st.builds(
        cursor, st.sampled_from(ORDERINGS), st.lists(EDGE_INTEGERS | text, min_size=1, max_size=3)
    )
    values = {
        "ID": IDS,
        "String": text | edge_cursors,
        "Long": st.sampled_from([LONG_MIN, LONG_MAX, str(LONG_MAX), 0, -1]),
        "DateTime": st.sampled_from(
            [
                "0001-01-01T00:00:00+05:00",
                "9999-12-31T23:59:59-05:00",
                "0001-01-01T00:00:00",
                "9999-12-31T23:59:59.999999",
            ]
        ),
        "JSON": st.dictionaries(NAMES, text | EDGE_INTEGERS, min_size=1, max_size=3),
    }
    return {name: strategy.map(literal) for name, strategy in values.items()}


# --- documents -----------------------------------------------------------------------


def _keep(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


class _DropArguments(graphql.Visitor):
    """Leaves out each optional argument that `keep` declines."""

    def __init__(self, type_info: graphql.TypeInfo, keep: Callable[[], bool]) -> None:
        super().__init__()
        self.type_info = type_info
        self.keep = keep

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> object:
        argument = self.type_info.get_argument()
        if argument is None or graphql.is_non_null_type(argument.type) or self.keep():
            return None
        return graphql.REMOVE


@st.composite
def _some_arguments(draw: st.DrawFn, documents: st.SearchStrategy[graphql.DocumentNode]) -> Any:
    type_info = graphql.TypeInfo(SCHEMA)
    drop = _DropArguments(type_info, lambda: draw(st.booleans()))
    return graphql.visit(draw(documents), graphql.TypeInfoVisitor(type_info, drop))


def _operations(
    root_field: str | None = None, scalars: dict[str, st.SearchStrategy[Any]] = VALID_SCALARS
) -> st.SearchStrategy[graphql.DocumentNode]:
    """Operations on the whole schema, or on one root field: documents a tenth the size,
    generated faster, whose one field nothing else's error hides.

    The library gives every argument a value, often null. Without nulls, and with some
    arguments left out instead (`first` and `last` together end a list before its statement
    runs), the values reach the database far more often."""
    fields = None if root_field is None else [root_field]
    return st.one_of(
        hypothesis_graphql.from_schema(SDL, fields=fields, custom_scalars=scalars, print_ast=_keep),
        _some_arguments(
            hypothesis_graphql.from_schema(
                SDL, fields=fields, custom_scalars=scalars, print_ast=_keep, allow_null=False
            )
        ),
    )


assert SCHEMA.query_type is not None and SCHEMA.mutation_type is not None
ROOT_FIELDS = sorted(SCHEMA.query_type.fields) + sorted(SCHEMA.mutation_type.fields)
OPERATIONS = st.one_of(_operations(), st.sampled_from(ROOT_FIELDS).flatmap(_operations))
# Scalars of every kind, some of them values the scalar refuses.
WITH_ANY_VALUES: st.SearchStrategy[graphql.DocumentNode] = hypothesis_graphql.from_schema(
    SDL, custom_scalars=ANY_SCALARS, print_ast=_keep
)
VIOLATIONS: st.SearchStrategy[graphql.DocumentNode] = hypothesis_graphql.from_schema(
    SDL, custom_scalars=ANY_SCALARS, print_ast=_keep, mode=hypothesis_graphql.Mode.NEGATIVE
)

# Subscriptions are served over WebSockets only; over HTTP they must be refused cleanly.
assert SCHEMA.subscription_type is not None
SUBSCRIPTION_SCHEMA = graphql.GraphQLSchema(
    query=SCHEMA.subscription_type, types=list(SCHEMA.type_map.values())
)


def _as_subscription(document: graphql.DocumentNode) -> graphql.DocumentNode:
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return dataclasses.replace(
        document,
        definitions=(dataclasses.replace(operation, operation=graphql.OperationType.SUBSCRIPTION),),
    )


SUBSCRIPTIONS = hypothesis_graphql.queries(
    SUBSCRIPTION_SCHEMA, custom_scalars=VALID_SCALARS, print_ast=_keep
).map(_as_subscription)


def body(document: graphql.DocumentNode | str, variables: dict[str, Any] | None = None) -> str:
    query = document if isinstance(document, str) else graphql.print_ast(document)
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    return json.dumps(payload)


class _Nodes(graphql.Visitor):
    """Collects the nodes of a document that `broken_documents` may alter."""

    def __init__(self) -> None:
        super().__init__()
        self.selection_sets: list[graphql.SelectionSetNode] = []
        self.fields: list[graphql.FieldNode] = []
        self.values: list[graphql.ArgumentNode | graphql.ObjectFieldNode] = []

    def enter_selection_set(self, node: graphql.SelectionSetNode, *_: Any) -> None:
        self.selection_sets.append(node)

    def enter_field(self, node: graphql.FieldNode, *_: Any) -> None:
        self.fields.append(node)

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> None:
        self.values.append(node)

    def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> None:
        self.values.append(node)


class _Replace(graphql.Visitor):
    def __init__(self, target: graphql.Node, replacement: graphql.Node) -> None:
        super().__init__()
        self.target = target
        self.replacement = replacement

    def enter(self, node: graphql.Node, *_: Any) -> graphql.Node | None:
        return self.replacement if node is self.target else None


def replace(
    document: graphql.DocumentNode, target: graphql.Node, replacement: graphql.Node
) -> graphql.DocumentNode:
    changed: graphql.DocumentNode = graphql.visit(document, _Replace(target, replacement))
    return changed


@st.composite
def broken_documents(draw: st.DrawFn) -> str:
    """A valid operation with one thing the schema does not have: a field, an argument,
    or a value of another type anywhere in an argument (the library's own violations
    reach only arguments of GraphQL's scalar types)."""
    document = draw(OPERATIONS)
    nodes = _Nodes()
    graphql.visit(document, nodes)
    choices = ["field", "argument"] + (["value"] if nodes.values else [])
    kind = draw(st.sampled_from(choices))
    if kind == "field":
        selections = draw(st.sampled_from(nodes.selection_sets))
        field = graphql.FieldNode(name=graphql.NameNode(value=draw(NAMES)))
        changed = dataclasses.replace(selections, selections=(*selections.selections, field))
        return graphql.print_ast(replace(document, selections, changed))
    if kind == "argument":
        target = draw(st.sampled_from(nodes.fields))
        argument = graphql.ArgumentNode(
            name=graphql.NameNode(value=draw(NAMES)), value=literal(draw(LITERAL_JSON))
        )
        changed_field = dataclasses.replace(target, arguments=(*(target.arguments or ()), argument))
        return graphql.print_ast(replace(document, target, changed_field))
    value_node = draw(st.sampled_from(nodes.values))
    changed_value = dataclasses.replace(value_node, value=literal(draw(LITERAL_JSON)))
    return graphql.print_ast(replace(document, value_node, changed_value))


class _LiftArguments(graphql.Visitor):
    """Turns each argument of a document into a variable of the argument's type, as
    clients write operations; the values go through variable coercion instead of the
    validation of literals."""

    def __init__(self, type_info: graphql.TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.definitions: list[graphql.VariableDefinitionNode] = []
        self.variables: dict[str, Any] = {}

    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> graphql.ArgumentNode | None:
        argument = self.type_info.get_argument()
        if argument is None or isinstance(node.value, graphql.VariableNode):
            return None
        variable = graphql.VariableNode(name=graphql.NameNode(value=f"v{len(self.variables)}"))
        self.variables[variable.name.value] = graphql.value_from_ast_untyped(node.value)
        self.definitions.append(
            graphql.VariableDefinitionNode(
                variable=variable, type=graphql.parse_type(str(argument.type))
            )
        )
        return dataclasses.replace(node, value=variable)


def with_variables(document: graphql.DocumentNode) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    type_info = graphql.TypeInfo(SCHEMA)
    lift = _LiftArguments(type_info)
    lifted: graphql.DocumentNode = graphql.visit(document, graphql.TypeInfoVisitor(type_info, lift))
    operation = lifted.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    operation = dataclasses.replace(operation, variable_definitions=tuple(lift.definitions))
    return dataclasses.replace(lifted, definitions=(operation,)), lift.variables


@st.composite
def operations_with_variables(draw: st.DrawFn) -> str:
    """A valid operation with its arguments as variables; in half of them one variable is
    missing or has a value of any JSON type (a nested field of the wrong type, a key the
    input does not have, a string with a NUL)."""
    document, variables = with_variables(draw(OPERATIONS))
    spoil: bool = draw(st.booleans())
    if variables and spoil:
        name = draw(st.sampled_from(sorted(variables)))
        if draw(st.booleans()):
            del variables[name]
        else:
            variables[name] = draw(ANY_JSON)
    return body(document, variables)


# Operations on one root field, each scalar at the edge of what it takes, written in the
# document or passed as variables (which alone can carry a lone surrogate).
LITERAL_EDGES = edge_scalars(AWKWARD_TEXT)
VARIABLE_EDGES = edge_scalars(AWKWARD_TEXT | st.just("\udc80"))
EDGE_LITERALS = st.sampled_from(ROOT_FIELDS).flatmap(
    lambda field: _operations(field, LITERAL_EDGES).map(body)
)
EDGE_VARIABLES = st.sampled_from(ROOT_FIELDS).flatmap(
    lambda field: _operations(field, VARIABLE_EDGES).map(lambda doc: body(*with_variables(doc)))
)


@st.composite
def truncated_documents(draw: st.DrawFn) -> str:
    document = graphql.print_ast(draw(OPERATIONS))
    return document[: draw(st.integers(0, len(document) - 1))]


# Bodies a client could send by mistake: not JSON, JSON of another shape than a GraphQL
# request, or a request whose members have the wrong types.
REQUEST_MEMBERS = st.fixed_dictionaries(
    {},
    optional={
        "query": st.one_of(st.just("{ __typename }"), ANY_JSON),
        "variables": ANY_JSON,
        "operationName": ANY_JSON,
        "extensions": ANY_JSON,
    },
)
MALFORMED_BODIES = st.one_of(
    VARIABLE_TEXT,
    ANY_JSON.map(json.dumps),
    REQUEST_MEMBERS.map(json.dumps),
)


# --- the check -----------------------------------------------------------------------

INTERNAL = "INTERNAL_SERVER_ERROR"
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
LEAKS = ("Traceback", 'File "', "SELECT ", "INSERT ")
LEAKS_ANY_CASE = ("sqlalchemy", "asyncpg")
EXCEPTION_REPR = re.compile(
    r"\b[A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt)\("
    r"|<[\w.]+ object at 0x[0-9a-fA-F]+>"
    r"|<class '"
    r"|'\w+' object (?:has no attribute|is not (?:subscriptable|callable|iterable))"
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _leaks(error: Any, sent: str) -> list[str]:
    """What in `error` shows the server's insides; text that only echoes what the client
    sent does not count."""
    found: list[str] = []
    for text in _strings(error):
        for marker in LEAKS:
            if marker in text and marker not in sent:
                found.append(marker)
        for marker in LEAKS_ANY_CASE:
            if marker in text.lower() and marker not in sent.lower():
                found.append(marker)
        for match in EXCEPTION_REPR.finditer(text):
            if match.group() not in sent:
                found.append(match.group())
    return found


def problems(content: str, response: httpx.Response) -> list[str]:
    """Everything wrong with the server's `response` to the request body `content`."""
    found: list[str] = []
    if response.status_code >= 500:
        found.append(f"status {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        content_type = response.headers.get("content-type")
        return [*found, f"the body is not JSON ({content_type}): {response.text[:500]!r}"]
    try:
        sent = "\n".join(_strings(json.loads(content))) + "\n" + content
    except ValueError:
        sent = content
    if not isinstance(answer, dict) or not ({"data", "errors"} & answer.keys()):
        return [*found, "the body is no GraphQL response"]
    errors = answer.get("errors") or []
    if not isinstance(errors, list):
        return [*found, "errors is not a list"]
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if not isinstance(code, str) or not CODE.fullmatch(code):
            found.append(f"an error without a code: {error}")
        elif code == INTERNAL:
            found.append(f"an internal error: {error}")
        leaks = _leaks(error, sent)
        if leaks:
            found.append(f"an error showing {leaks}: {error}")
    return found


def describe(content: str, response: httpx.Response, found: list[str]) -> str:
    try:
        payload = json.loads(content)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("query"), str):
        sent = payload["query"] + "\nvariables: " + json.dumps(payload.get("variables"))
    else:
        sent = repr(content)
    return (
        "\n".join(found)
        + f"\n--- sent ---\n{sent}\n--- received: {response.status_code} ---\n{response.text}"
    )


# --- nested filters and cursors ------------------------------------------------------

# ids as a client should not send them: non-canonical numbers, and interfaces and
# other types that are no node
ODD_IDS = st.builds(
    global_id,
    st.sampled_from(["Job", "Run", "Node", "Entity", "JobWhere", "Query"]),
    st.sampled_from(["1_0", "\u0663", " 1", "+1", "01", "0", "1 ", "-1", "1.0", "1e3"]),
)
ANY_IDS = IDS | ODD_IDS
PATTERNS = TEXT | st.sampled_from(["\\", "a\\", "%\\\\", "\\\\\\", "_%", "%"])
TIMES = SCALAR_VALUES["DateTime"][0]
STRING_OPERATORS = st.fixed_dictionaries(
    {},
    optional={
        "eq": TEXT,
        "in": st.lists(TEXT, max_size=4),
        "ilike": PATTERNS,
        "contains": TEXT,
        "gt": TEXT,
        "isNull": st.booleans(),
    },
)
TIME_OPERATORS = st.fixed_dictionaries({}, optional={"gte": TIMES, "lt": TIMES, "eq": TIMES})
ID_OPERATORS = st.fixed_dictionaries(
    {}, optional={"eq": ANY_IDS, "in": st.lists(ANY_IDS, max_size=4)}
)


def nested_wheres(
    fields: dict[str, st.SearchStrategy[Any]],
    relations: Callable[[st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]],
) -> st.SearchStrategy[dict[str, Any]]:
    """`where` values of any shape: fields, relations, and, or, not, nested as deep as
    hypothesis takes them, and now and then one relation nested past the depth limit."""
    leaves = st.fixed_dictionaries({}, optional=fields)

    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.fixed_dictionaries(
            {},
            optional={
                **relations(inner),
                "and": st.lists(inner, max_size=3),
                "or": st.lists(inner, max_size=3),
                "not": inner,
            },
        )

    trees = st.recursive(leaves, extend, max_leaves=12)
    name = sorted(relations(leaves))[0]
    chains = st.builds(lambda leaf, depth: _chain(name, leaf, depth), leaves, st.integers(1, 16))
    return trees | chains


def _chain(relation: str, leaf: dict[str, Any], depth: int) -> dict[str, Any]:
    where = leaf
    for _ in range(depth):
        where = {relation: where}
    return where


JOB_WHERES = nested_wheres(
    {"taskName": STRING_OPERATORS, "id": ID_OPERATORS, "createdAt": TIME_OPERATORS},
    lambda inner: {
        "parent": inner,
        "project": st.fixed_dictionaries({}, optional={"jobs": inner, "name": STRING_OPERATORS}),
    },
)
RUN_WHERES = nested_wheres(
    {"name": STRING_OPERATORS, "id": ID_OPERATORS, "createdAt": TIME_OPERATORS},
    lambda inner: {
        "study": st.fixed_dictionaries({}, optional={"runs": inner, "name": STRING_OPERATORS}),
    },
)
# cursors of the time ordering with any time in them, and of any ordering
TIME_CURSORS = st.builds(
    lambda moment, row: cursor("created_at:desc,id:desc", [moment, row]),
    TIMES | TEXT,
    INTEGERS,
)
ANY_CURSORS = st.none() | CURSORS | TIME_CURSORS
FILTERED = {
    "jobs": ("JobWhere", JOB_WHERES),
    "runs": ("RunWhere", RUN_WHERES),
}


@st.composite
def filtered_lists(draw: st.DrawFn) -> str:
    """A root list with a nested `where` and a cursor, both as variables."""
    field = draw(st.sampled_from(sorted(FILTERED)))
    where_type, wheres = FILTERED[field]
    query = (
        f"query($w: {where_type}, $after: String, $before: String) {{ {field}(where: $w, "
        "after: $after, before: $before, first: 3, orderBy: [{field: CREATED_AT, "
        "direction: DESC}]) { totalCount edges { cursor node { id } } } }"
    )
    variables = {"w": draw(wheres), "after": draw(ANY_CURSORS), "before": draw(ANY_CURSORS)}
    return body(query, variables)


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def demo_engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database of its own, so that the ids of the demo rows are known: small numbers."""
    engine = await databases.migrated_engine()
    await load_demo(engine, 1)
    yield engine
    await engine.dispose()


class Fuzzer:
    """Sends each example to an application of its own, on a connection of its own inside
    a transaction that is rolled back afterwards: mutations really write, every example
    sees the demo data as loaded, and one that breaks its connection does not break the
    next."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def check(self, content: str) -> None:
        async with self.engine.connect() as connection:
            transaction = await connection.begin()
            try:
                sessionmaker = async_sessionmaker(
                    bind=connection,
                    expire_on_commit=False,
                    join_transaction_mode="create_savepoint",
                )
                # an exception that escapes the application must reach the check as the
                # 500 a client would get, not end the example before the response is seen
                transport = httpx.ASGITransport(
                    app=create_app(sessionmaker=sessionmaker), raise_app_exceptions=False
                )
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://localhost"
                ) as http:
                    # a lone surrogate goes out as the bytes of one: invalid UTF-8
                    response = await http.post(
                        "/graphql",
                        content=content.encode("utf-8", "surrogatepass"),
                        headers={"content-type": "application/json"},
                    )
                found = problems(content, response)
                if connection.invalidated:
                    # a pooled connection the server threw away mid-request: statements
                    # still running when the request ended, or a protocol error
                    found.append("the request left its database connection unusable")
            finally:
                await transaction.rollback()
        assert not found, describe(content, response, found)


@pytest.fixture
def fuzzer(demo_engine: AsyncEngine) -> Fuzzer:
    return Fuzzer(demo_engine)


# --- the properties ------------------------------------------------------------------


@fuzz_settings(200)
@given(content=OPERATIONS.map(body))
async def test_operations_generated_from_the_schema(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)


@fuzz_settings(150)
@given(content=st.one_of(EDGE_LITERALS, EDGE_VARIABLES))
async def test_operations_with_edge_values(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)


@fuzz_settings(150)
@given(content=operations_with_variables())
async def test_operations_with_variables(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)


@fuzz_settings(150)
@given(
    content=st.one_of(
        WITH_ANY_VALUES.map(body),
        VIOLATIONS.map(body),
        broken_documents().map(body),
        SUBSCRIPTIONS.map(body),
    )
)
async def test_documents_the_schema_refuses(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)


@fuzz_settings(120)
@given(content=st.one_of(st.text().map(body), TEXT.map(body), truncated_documents().map(body)))
async def test_documents_that_do_not_parse(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)


@fuzz_settings(200)
@given(content=MALFORMED_BODIES)
async def test_malformed_request_bodies(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)


# (the strategies of nested filters describe themselves at length; only their examples matter)
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(150)
@given(content=filtered_lists())
async def test_nested_filters_and_cursors(fuzzer: Fuzzer, content: str) -> None:
    await fuzzer.check(content)
