"""Operations over a limit are refused before anything runs, with a code, the limit and
the count; every operation reports its estimated cost; a statement over the statement
timeout ends with QUERY_TIMEOUT; an unexpected exception reaches the client only as an
error id, which the log repeats beside it."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import Lexer, Source, TokenKind, get_introspection_query, get_operation_ast, parse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from scimeta.operation_limits import Limits
from scimeta.resolvers.limits import measure
from scimeta.resolvers.measures import Measures
from scimeta.resolvers.schema import schema
from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.migrate import run_upgrade
from scimeta.server.settings import Settings
from tests.conftest import DatabaseFactory, GraphQLClient, StatementCounter, started

BENCH = Path(__file__).resolve().parent.parent / "bench"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


async def serving(limits: Limits, sessionmaker: async_sessionmaker[AsyncSession]) -> Starlette:
    return await started(create_app(Settings(limits=limits), sessionmaker=sessionmaker))


async def post(
    app: Starlette, query: str, operation_name: str | None = None, **variables: Any
) -> tuple[int, dict[str, Any]]:
    """Posts an operation as a client that takes `application/json`, to which errors before
    execution answer 200 unless they are refusals for a limit."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables, "operationName": operation_name},
            headers={"Accept": "application/json"},
        )
    body: dict[str, Any] = response.json()
    return response.status_code, body


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    (error,) = body["errors"]
    result: dict[str, Any] = error
    return result


def document_tokens(query: str) -> int:
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def measured(query: str, variables: dict[str, Any] | None = None) -> Measures:
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    return measure(schema._schema, document, operation, variables, Limits())


# --- depth, aliases, tokens and cost, refused before execution ------------------------------

DEEP_BY_FRAGMENT = """
{ studies { nodes { ...Participants } } }
fragment Participants on Study { participants { nodes { id } } }
"""


async def test_depth_counts_the_fields_of_fragments_where_they_are_spread(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    app = await serving(Limits(max_depth=4), sessionmaker)
    statements.reset()

    status, body = await post(app, DEEP_BY_FRAGMENT)

    assert status == 400
    error = only_error(body)
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": 4, "count": 5}
    assert error["message"].startswith("The operation nests fields 5 deep")
    assert "the limit is 4" in error["message"]
    assert "data" not in body or body["data"] is None
    assert statements.count == 0
    status, body = await post(app, "{ studies { nodes { participants { totalCount } } } }")
    assert (status, body["data"]) == (200, {"studies": {"nodes": []}})


async def test_aliases_count_each_spread_of_their_fragment(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    app = await serving(Limits(max_aliases=3), sessionmaker)
    statements.reset()
    query = """
    { a: studies { ...Counts } b: studies { ...Counts } }
    fragment Counts on StudyConnection { all: totalCount }
    """

    status, body = await post(app, query)

    assert status == 400
    error = only_error(body)
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES", "limit": 3, "count": 4}
    assert "4 aliased fields" in error["message"]
    assert "the limit is 3" in error["message"]
    assert statements.count == 0


async def test_tokens_count_each_spread_of_their_fragment(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    query = """
    { a: runs { ...Page } b: runs { ...Page } c: runs { ...Page } }
    fragment Page on RunConnection { totalCount pageInfo { hasNextPage endCursor } }
    """
    written = document_tokens(query)
    # the fragment's 12 tokens written once, its selection's 8 copied to each spread
    expanded = written - 12 + 3 * 8
    app = await serving(Limits(max_tokens=written + 5), sessionmaker)
    statements.reset()

    status, body = await post(app, query)

    assert status == 400
    error = only_error(body)
    assert error["extensions"] == {
        "code": "TOO_MANY_TOKENS",
        "limit": written + 5,
        "count": expanded,
    }
    assert f"has {expanded} tokens with its fragments expanded" in error["message"]
    assert statements.count == 0


async def test_a_document_over_the_token_limit_is_not_even_parsed(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    app = await serving(Limits(max_tokens=50), sessionmaker)
    statements.reset()
    query = "{ " + " ".join(f"r{i}: runs {{ totalCount }}" for i in range(20)) + " }"

    status, body = await post(app, query)

    assert status == 400
    error = only_error(body)
    assert error["extensions"] == {"code": "TOO_MANY_TOKENS", "limit": 50}
    assert error["message"].startswith("The document has more than 50 tokens")
    assert statements.count == 0


NESTED_PAGES = """query Nested($participants: Int) {
  studies(first: 10) { nodes { participants(first: $participants) { nodes { id } } } }
}"""


async def test_an_operation_over_the_cost_budget_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    app = await serving(Limits(max_cost=1000), sessionmaker)
    statements.reset()

    status, body = await post(app, NESTED_PAGES, participants=100)

    assert status == 400
    error = only_error(body)
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "estimated": 1010, "budget": 1000}
    assert error["message"].startswith("The operation may return 1010 rows")
    assert "the budget is 1000" in error["message"]
    assert body["extensions"] == {"cost": {"estimated": 1010, "budget": 1000}}
    assert statements.count == 0
    status, body = await post(app, NESTED_PAGES, participants=99)
    assert status == 200
    assert body["extensions"] == {"cost": {"estimated": 1000, "budget": 1000}}


async def test_a_mutation_over_a_limit_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    app = await serving(Limits(max_aliases=1), sessionmaker)
    statements.reset()
    mutation = """mutation {
      a: createStudy(input: {name: "over-limit-a"}) { study { id } }
      b: createStudy(input: {name: "over-limit-b"}) { study { id } }
    }"""

    status, body = await post(app, mutation)

    assert status == 400
    assert only_error(body)["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert statements.count == 0


async def test_every_operation_reports_its_cost(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ runs(first: 7) { nodes { id } } }"})

    assert response.status_code == 200
    assert response.json()["extensions"] == {"cost": {"estimated": 7, "budget": Limits().max_cost}}


async def test_limits_come_from_the_application_settings(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, tight = await post(
        await serving(Limits(max_cost=5), sessionmaker), "{ runs { totalCount } }"
    )
    _, loose = await post(
        await serving(Limits(max_cost=9), sessionmaker), "{ runs { totalCount } }"
    )

    assert tight["extensions"]["cost"] == {"estimated": 1, "budget": 5}
    assert loose["extensions"]["cost"] == {"estimated": 1, "budget": 9}


# --- the cost model --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        # a root page, its default size, and its page info (one object)
        ("{ runs { nodes { id } pageInfo { hasNextPage } } }", {}, 50 + 1),
        # counts and aggregates read no rows: the connection is one object
        ("{ runs { totalCount } }", {}, 1),
        # a nested page is per parent; edges and their nodes are the page's rows
        (
            "{ studies(first: 3) { edges { node {"
            " participants(last: 4) { edges { cursor } } } } } }",
            {},
            3 + 3 * 4,
        ),
        # a single object costs one per parent
        ("{ participants(first: 5) { nodes { study { name } } } }", {}, 5 + 5),
        # groups count as a page of the default size
        ("{ runs { groups(by: [STATUS]) { key { status } count } } }", {}, 1 + 50 + 50),
        # page sizes from variables, from variable defaults, and above the maximum
        ("query($n: Int) { runs(first: $n) { nodes { id } } }", {"n": 12}, 12),
        ("query($n: Int = 8) { runs(first: $n) { nodes { id } } }", {}, 8),
        ("{ runs(first: 100000) { nodes { id } } }", {}, 500),
        # a fragment counts wherever it is spread
        (
            "{ a: runs(first: 2) { ...Ids } b: runs(first: 3) { ...Ids } }"
            " fragment Ids on RunConnection { nodes { id study { id } } }",
            {},
            2 * 2 + 3 * 2,
        ),
        # node(id) is one object, nodes(ids) one per id
        ('{ node(id: "UnVuOjE=") { id } }', {}, 1),
        ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["UnVuOjE=", "UnVuOjI="]}, 2),
        # a payload's list returns one item per item of the mutation's input lists
        (
            "mutation($e: [EventInput!]!) { appendEvents(events: $e) { events { id } } }",
            {"e": [{}, {}, {}]},
            1 + 3,
        ),
        # introspection is answered from memory
        ("{ __schema { types { name fields { name } } } }", {}, 0),
    ],
)
def test_the_cost_is_the_rows_the_page_sizes_allow(
    query: str, variables: dict[str, Any], cost: int
) -> None:
    assert measured(query, variables).cost == cost


def test_the_benchmark_and_introspection_queries_fit_the_default_limits() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import read
    finally:
        sys.path.remove(str(BENCH))
    limits = Limits()

    deep = measured(read.DEEP_QUERY)
    introspection = measured(
        get_introspection_query(descriptions=True, input_value_deprecation=True)
    )

    # its pages, and the one value its root list's filter compares
    assert deep.cost == 10 + 10 * 100 + 10 * 100 * 10 + 1
    assert introspection.depth <= limits.max_depth
    assert introspection.tokens <= limits.max_tokens


# --- statement timeout ------------------------------------------------------------------------


async def test_the_engine_gives_its_connections_the_statement_timeout(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    shown = {}
    for seconds in (2.5, 1.0001, 0, None):
        timed = (
            create_engine(url)
            if seconds is None
            else create_engine(url, statement_timeout_seconds=seconds)
        )
        async with timed.connect() as connection:
            shown[seconds] = (await connection.execute(text("SHOW statement_timeout"))).scalar()
        await timed.dispose()

    # a part of a millisecond rounds up: it must not turn a short timeout into none
    assert shown == {2.5: "2500ms", 1.0001: "1001ms", 0: "0", None: "30s"}


@pytest.fixture(scope="module")
async def run_with_study(databases: DatabaseFactory) -> str:
    """The URL of a database holding a study and a run of it, committed."""
    url = await databases.create()
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_upgrade)
    app = await serving(Limits(), create_sessionmaker(engine))
    _, study = await post(app, 'mutation { createStudy(input: {name: "locked"}) { study { id } } }')
    await post(
        app,
        'mutation($study: ID) { createRun(input: {name: "r", studyId: $study}) { run { id } } }',
        study=study["data"]["createStudy"]["study"]["id"],
    )
    await engine.dispose()
    return url


@dataclass
class LockedStudies:
    """Sessions whose statements time out after 0.5 s, and another transaction holding
    the studies table: any of their statements touching it waits until it times out."""

    sessionmaker: async_sessionmaker[AsyncSession]
    holder: AsyncConnection


@pytest.fixture
async def locked_studies(run_with_study: str) -> AsyncIterator[LockedStudies]:
    timed = create_engine(run_with_study, statement_timeout_seconds=0.5)
    locking = create_engine(run_with_study)
    async with locking.connect() as holder:
        await holder.begin()
        await holder.execute(text("LOCK TABLE studies IN ACCESS EXCLUSIVE MODE"))
        yield LockedStudies(create_sessionmaker(timed), holder)
        await holder.rollback()
    await locking.dispose()
    await timed.dispose()


async def test_a_read_over_the_statement_timeout_is_cancelled(
    locked_studies: LockedStudies, caplog: pytest.LogCaptureFixture
) -> None:
    app = await serving(Limits(statement_timeout_seconds=0.5), locked_studies.sessionmaker)

    with caplog.at_level(logging.ERROR, logger="scimeta.errors"):
        status, body = await post(
            app, "{ runs { nodes { name study { name } metrics { totalCount } } } }"
        )

    assert status == 200
    # the study's statement timed out; the metrics' then found the transaction aborted
    assert [error["path"] for error in body["errors"]] == [
        ["runs", "nodes", 0, "study"],
        ["runs", "nodes", 0, "metrics", "totalCount"],
    ]
    for error in body["errors"]:
        assert error["extensions"] == {"code": "QUERY_TIMEOUT", "seconds": 0.5}
        assert error["message"] == (
            "The query ran longer than 0.5 s; ask for less "
            "(smaller pages, fewer nested lists, a narrower where)."
        )
    assert not [record for record in caplog.records if record.name == "scimeta.errors"]


async def test_a_write_over_the_statement_timeout_writes_nothing(
    locked_studies: LockedStudies,
) -> None:
    app = await serving(Limits(statement_timeout_seconds=0.5), locked_studies.sessionmaker)

    status, body = await post(
        app, 'mutation { createStudy(input: {name: "too-slow"}) { study { id } } }'
    )

    assert status == 200
    error = only_error(body)
    assert error["extensions"]["code"] == "QUERY_TIMEOUT"
    assert error["message"].startswith("The query ran longer than 0.5 s; ask for less")
    written = await locked_studies.holder.execute(
        text("SELECT count(*) FROM studies WHERE name = 'too-slow'")
    )
    assert written.scalar() == 0


# --- internal errors ----------------------------------------------------------------------------


async def test_an_unexpected_exception_shows_only_an_error_id(
    graphql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("SELECT secret FROM runs -- connection pool on fire")

    monkeypatch.setattr("scimeta.schema.pagination.root_page", broken)
    monkeypatch.setattr("scimeta.planner.execute.CompiledRead.run", broken)

    with caplog.at_level(logging.ERROR, logger="scimeta.errors"):
        body = await graphql.execute("{ runs { nodes { id } } }")

    error = only_error(body)
    match = re.fullmatch(
        f"Internal server error; quote error id ({UUID}) to the operators", error["message"]
    )
    assert match is not None, error
    error_id = match[1]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id}
    assert "secret" not in str(body)
    (record,) = [r for r in caplog.records if r.name == "scimeta.errors"]
    assert error_id in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_a_document_of_several_operations_needs_operation_name(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    """Without `operationName` a document of several operations runs none of them (as
    the GraphQL spec says), so no operation runs unmeasured by the limits."""
    app = await serving(Limits(max_depth=4), sessionmaker)
    statements.reset()
    document = """query Deep { studies { nodes { participants { nodes { id } } } } }
    query Small { __typename }"""

    status, body = await post(app, document)
    named_status, named = await post(app, document, operation_name="Deep")

    assert status == 200  # application/json: errors before execution answer 200
    error = only_error(body)
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "data" not in body or body["data"] is None
    assert "operationName" in error["message"]
    assert named_status == 400
    assert only_error(named)["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert statements.count == 0
