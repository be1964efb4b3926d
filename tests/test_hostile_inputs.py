"""Hostile inputs from callers with narrow grants: filters that cost the same at any depth
or are refused before any SQL, refusals that tell nothing about rows, tokens or events the
caller cannot see, the metric catalogue changed only by those who may, and malformed ids,
cursors, patterns, variables and names answered as client errors with a code.

The module's database holds the demo data (loaded once); each test runs in a rolled-back
transaction on it, with tokens made inside that transaction.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from strawberry.relay import GlobalID
from strawberry.schema import schema as strawberry_schema

from scimeta import models as m
from scimeta.auth.policy import visible_rows
from scimeta.auth.tokens import Grant, create_token
from scimeta.demo import load_demo
from scimeta.models import Role, ownership
from scimeta.operation_limits import Limits
from scimeta.schema.filters import WhereInput
from scimeta.schema.inputs import chemistry, core, jobs, runs, studies  # noqa: F401
from scimeta.server.app import create_app
from scimeta.server.settings import Settings
from tests.conftest import DatabaseFactory, StatementCounter, counting_statements, started


@pytest.fixture(scope="module")
async def engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """Demo data in a database of this module's own; overrides the conftest's `engine`, so
    each test still runs in a rolled-back transaction."""
    engine = await databases.migrated_engine()
    await load_demo(engine, 1)
    yield engine
    await engine.dispose()


class Caller:
    def __init__(self, http: httpx.AsyncClient, secret: str, token_id: int) -> None:
        self.http = http
        self.secret = secret
        self.token_id = token_id

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.secret}"},
        )

    async def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code < 500, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.execute(query, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.execute(query, **variables)
        [error] = body["errors"]
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error
        result: dict[str, Any] = error
        return result


class Callers:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], http: httpx.AsyncClient
    ) -> None:
        self.sessionmaker = sessionmaker
        self.http = http

    async def make(self, name: str, *grants: Grant) -> Caller:
        async with self.sessionmaker() as session:
            made = await create_token(session, name=name, grants=list(grants))
            await session.commit()
        return Caller(self.http, made.secret, made.token.id)

    async def first(self, model: type[m.Entity]) -> int:
        async with self.sessionmaker() as session:
            found = await session.scalar(select(func.min(model.id)))
        assert isinstance(found, int)
        return found

    async def study_with_runs(self) -> int:
        async with self.sessionmaker() as session:
            found = await session.scalar(select(func.min(m.Run.study_id)))
        assert isinstance(found, int)
        return found


async def http_client(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> httpx.AsyncClient:
    app = await started(create_app(settings or Settings(), sessionmaker=sessionmaker))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.fixture
async def callers(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Callers]:
    async with await http_client(sessionmaker) as http:
        yield Callers(sessionmaker, http)


def read_rows(statements: StatementCounter) -> list[str]:
    """The statements sent besides the check of the caller's token."""
    return [
        sql
        for sql in statements.statements
        if "FROM api_tokens" not in sql and "FROM token_grants" not in sql
    ]


def gid(type_name: str, row: int | str) -> str:
    return str(GlobalID(type_name, str(row)))


# --- relation filters: the same cost at any depth, or refused before any SQL -----------------

LIMIT = Limits().max_filter_depth


def nested(relation: str, leaf: dict[str, Any], levels: int) -> dict[str, Any]:
    where = leaf
    for _ in range(levels):
        where = {relation: where}
    return where


JOBS = "query($w: JobWhere) { jobs(where: $w) { totalCount nodes { id } } }"
RUNS = "query($w: RunWhere) { runs(where: $w) { totalCount nodes { id } } }"
# (query, a chain of relations, the innermost condition)
CHAINS = {
    "job-parents": (JOBS, ["parent"], {"taskName": {"eq": "x"}}),
    "run-study-runs": (RUNS, ["study", "runs"], {"name": {"eq": "x"}}),
}


def chain(relations: list[str], leaf: dict[str, Any], depth: int) -> dict[str, Any]:
    """A `where` of `depth` nested inputs, following `relations` in turn."""
    where = leaf
    for level in reversed(range(depth - 1)):
        where = {relations[level % len(relations)]: where}
    return where


@pytest.mark.parametrize("name", CHAINS)
async def test_a_scoped_viewers_relation_filter_is_fast_at_every_depth_up_to_the_limit(
    callers: Callers, engine: AsyncEngine, name: str
) -> None:
    """Before relation filters were restricted once, a viewer of one project took 12 s for
    `parent` nested five deep on the demo data (the database nested one loop per level)."""
    query, relations, leaf = CHAINS[name]
    viewer = await callers.make(
        "viewer",
        Grant(Role.VIEWER, project_id=await callers.first(m.Project)),
        Grant(Role.VIEWER, study_id=await callers.first(m.Study)),
    )
    timings = {}
    for depth in range(1, LIMIT + 1):
        where = chain(relations, leaf, depth)
        best = float("inf")
        for _ in range(3):
            started_at = time.perf_counter()
            data = await viewer.data(query, w=where)
            best = min(best, time.perf_counter() - started_at)
        assert next(iter(data.values()))["totalCount"] == 0
        timings[depth] = best
    assert max(timings.values()) < 0.05, timings

    with counting_statements(engine) as statements:
        response = await viewer.post(query, {"w": chain(relations, leaf, LIMIT + 1)})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "FILTER_TOO_DEEP", "limit": LIMIT, "count": LIMIT + 1}
    assert read_rows(statements) == []


async def test_a_filter_nested_in_the_document_is_refused_as_one_in_variables(
    callers: Callers,
) -> None:
    viewer = await callers.make("viewer", Grant(Role.VIEWER, study_id=1))
    literal = '{taskName: {eq: "x"}}'
    for _ in range(LIMIT):
        literal = f"{{not: {literal}}}"
    response = await viewer.post(f"{{ jobs(where: {literal}) {{ totalCount }} }}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "FILTER_TOO_DEEP"


async def test_relation_filters_restricted_once_still_show_only_the_callers_rows(
    callers: Callers,
) -> None:
    """A run of another study is never reached through the caller's study."""
    study = await callers.study_with_runs()
    viewer = await callers.make("viewer", Grant(Role.VIEWER, study_id=study))
    admin = await callers.make("admin", Grant(Role.ADMIN))
    everything = await admin.data("{ runs(first: 500) { nodes { id name study { id } } } }")
    others = [r for r in everything["runs"]["nodes"] if r["study"] != {"id": gid("Study", study)}]
    own = [r for r in everything["runs"]["nodes"] if r["study"] == {"id": gid("Study", study)}]
    assert others and own

    query = "query($w: RunWhere) { runs(where: $w) { nodes { id } } }"
    names = [run["name"] for run in others]
    found = await viewer.data(query, w={"study": {"runs": {"name": {"in": names}}}})
    assert found["runs"]["nodes"] == []
    own_names = [run["name"] for run in own]
    found = await viewer.data(query, w={"study": {"runs": {"name": {"in": own_names}}}})
    assert sorted(r["id"] for r in found["runs"]["nodes"]) == sorted(r["id"] for r in own)


def _where_inputs(base: type[WhereInput]) -> list[type[WhereInput]]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_where_inputs(sub)]
    return found


async def test_every_relation_declared_to_keep_the_scope_keeps_it_on_the_demo_data(
    session: AsyncSession,
) -> None:
    """Each relation filtered without a condition of its own: no row related to a row a
    caller with one project and one study sees is hidden from that caller."""
    relations = {
        (relation.local, relation.remote)
        for where in _where_inputs(WhereInput)
        for relation in (ownership.relation(where.__model__, name) for name in where.__relations__)
        if relation.same_scope
    }
    assert len(relations) == 22
    projects = list(await session.scalars(select(m.Project.id)))
    study_ids = list(await session.scalars(select(m.Study.id)))
    for project, study in zip(projects * len(study_ids), study_ids, strict=False):
        visible = visible_rows([project], [study])
        for local, remote in relations:
            near: Any = local.class_
            far: Any = remote.class_
            this, other = aliased(near), aliased(far)
            leaks = await session.scalar(
                select(func.count())
                .select_from(this)
                .join(other, getattr(this, local.key) == getattr(other, remote.key))
                .where(
                    this.id.in_(select(near.id).where(visible[near])),
                    other.id.not_in(select(far.id).where(visible[far])),
                )
            )
            assert leaks == 0, (local, remote, project, study)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"or": [{"id": {"in": ["Sm9iOjE="] * 1000}}] * 40}, id="or-of-in-lists"),
        pytest.param({"and": [{"taskName": {"eq": "x"}}] * 6000}, id="many-conditions"),
    ],
)
async def test_filters_comparing_too_many_values_are_refused_before_any_sql(
    callers: Callers, engine: AsyncEngine, where: dict[str, Any]
) -> None:
    viewer = await callers.make("viewer", Grant(Role.VIEWER, project_id=1))
    with counting_statements(engine) as statements:
        response = await viewer.post(JOBS, {"w": where})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "FILTER_TOO_WIDE"
    assert error["extensions"]["limit"] == Limits().max_filter_values
    assert read_rows(statements) == []


async def test_filter_depth_and_values_count_in_the_cost(callers: Callers) -> None:
    viewer = await callers.make("viewer", Grant(Role.VIEWER, project_id=1))
    query = "query($w: JobWhere) { jobs(where: $w) { totalCount } }"
    plain = await viewer.execute(query, w=None)
    wide = await viewer.execute(query, w={"taskName": {"in": ["a", "b", "c"]}})
    deep = await viewer.execute(query, w=nested("parent", {"taskName": {"eq": "x"}}, 3))
    cost = [body["extensions"]["cost"]["estimated"] for body in (plain, wide, deep)]
    assert cost == [1, 1 + 3, 1 + 1 + 3 * 50]


# --- refusals that tell nothing about what the caller cannot see -----------------------------

REVOKE = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { token { id } } }"


async def test_revoking_a_token_the_caller_cannot_see_reads_like_revoking_a_missing_one(
    callers: Callers,
) -> None:
    project = await callers.first(m.Project)
    study = await callers.first(m.Study)
    admin = await callers.make("project admin", Grant(Role.ADMIN, project_id=project))
    hidden = [
        await callers.make("study", Grant(Role.VIEWER, study_id=study)),
        await callers.make("everything", Grant(Role.VIEWER)),
        await callers.make(
            "both", Grant(Role.VIEWER, project_id=project), Grant(Role.VIEWER, study_id=study)
        ),
    ]
    own = await callers.make("own", Grant(Role.VIEWER, project_id=project))
    missing = gid("ApiToken", own.token_id + 1000)

    errors = [await admin.error(REVOKE, id=gid("ApiToken", t.token_id)) for t in hidden]
    absent = await admin.error(REVOKE, id=missing)

    for token, error in zip(hidden, errors, strict=True):
        expected = f"No API token has the id {gid('ApiToken', token.token_id)}."
        assert error["message"] == expected, error
        assert error["extensions"] == absent["extensions"] == {"code": "NOT_FOUND"}
    assert absent["message"] == f"No API token has the id {missing}."
    for token in hidden:
        assert (await token.post("{ viewer { name } }")).status_code == 200
    revoked = await admin.data(REVOKE, id=gid("ApiToken", own.token_id))
    assert revoked["revokeApiToken"]["token"]["id"] == gid("ApiToken", own.token_id)


MISSPELT_INPUT = "query($w: JobWhere) { jobs(where: $w) { totalCount } }"


async def test_production_strips_every_suggestion_wherever_it_stands(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    documents = [
        ("{ projects { nodes { nme } } }", None),
        ('{ jobs(where: {nmae: {eq: "x"}}) { totalCount } }', None),
        (MISSPELT_INPUT, {"w": {"nam": {"eq": "x"}}}),
        (MISSPELT_INPUT, {"w": {"taskName": {"eqq": "x"}}}),
        ("{ jobs(orderBy: [{field: NUMBR}]) { totalCount } }", None),
    ]
    async with await http_client(sessionmaker, Settings(production=True)) as http:
        answers = [
            await http.post("/graphql", json={"query": query, "variables": variables})
            for query, variables in documents
        ]
    async with await http_client(sessionmaker) as http:
        development = [
            await http.post("/graphql", json={"query": query, "variables": variables})
            for query, variables in documents
        ]
    for answer in answers:
        [error] = answer.json()["errors"]
        assert "Did you mean" not in error["message"], error
        assert error["extensions"]["code"] in ("GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT")
    # each but the literal input object (which graphql-core answers without one) suggests
    # names in development
    suggested = ["Did you mean" in a.json()["errors"][0]["message"] for a in development]
    assert suggested == [True, False, True, True, True]


# --- the metric catalogue --------------------------------------------------------------------

RECORD = """
mutation($run: ID!, $key: String!, $unit: String) {
  recordMetrics(subjectId: $run, metrics: [{key: $key, value: 1.5, unit: $unit}]) {
    subject { id }
  }
}"""
KEYS = "query($name: String!) { metricKeys(where: {name: {eq: $name}}) { nodes { name unit } } }"
KEY_EVENTS = """
{ events(where: {subject: {type: "MetricKey"}}) { nodes { type payload subjectId } } }"""


async def test_a_new_metric_key_needs_a_grant_on_everything_wherever_it_is_made(
    callers: Callers,
) -> None:
    study = await callers.study_with_runs()
    runner = await callers.make("runner", Grant(Role.RUNNER, study_id=study))
    admin = await callers.make("admin", Grant(Role.ADMIN))
    run = (await runner.data("{ runs(first: 1) { nodes { id } } }"))["runs"]["nodes"][0]["id"]
    existing = (await admin.data("{ metricKeys(first: 1) { nodes { name } } }"))["metricKeys"]
    known = existing["nodes"][0]["name"]

    refused = await runner.error(RECORD, run=run, key="brand-new", unit="pcm")
    used = await runner.data(RECORD, run=run, key=known, unit=None)
    made = await admin.data(RECORD, run=run, key="brand-new", unit="pcm")

    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert used["recordMetrics"]["subject"]["id"] == run
    assert made["recordMetrics"]["subject"]["id"] == run
    keys = await runner.data(KEYS, name="brand-new")
    assert keys["metricKeys"]["nodes"] == [{"name": "brand-new", "unit": "pcm"}]
    events = (await admin.data(KEY_EVENTS))["events"]["nodes"]
    assert [(e["type"], e["payload"]) for e in events] == [
        ("created", {"name": "brand-new", "unit": "pcm"})
    ]


@pytest.mark.parametrize(
    ("key", "unit"),
    [
        pytest.param("keff", "<script>", id="markup-unit"),
        pytest.param("<b>k</b>", None, id="markup-name"),
        pytest.param("k\u0007", None, id="control-character"),
        pytest.param(" k", None, id="space-at-end"),
        pytest.param("k" * 256, None, id="long-name"),
        pytest.param("fresh", "u" * 65, id="long-unit"),
    ],
)
async def test_metric_key_names_and_units_are_checked(
    callers: Callers, key: str, unit: str | None
) -> None:
    admin = await callers.make("admin", Grant(Role.ADMIN))
    run = (await admin.data("{ runs(first: 1) { nodes { id } } }"))["runs"]["nodes"][0]["id"]
    error = await admin.error(RECORD, run=run, key=key, unit=unit)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    defined = await admin.error(
        "mutation($n: String!, $u: String) { defineMetricKey(name: $n, unit: $u) "
        "{ metricKey { id } } }",
        n=key,
        u=unit,
    )
    assert defined["extensions"]["code"] == "BAD_USER_INPUT", defined


# --- inputs that reached internal errors -----------------------------------------------------

NODE = "query($id: ID!) { node(id: $id) { id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"


@pytest.mark.parametrize(
    "raw",
    [
        "Node:1",
        "Entity:1",
        "Query:1",
        "JobWhere:1",
        "Job:1_0",
        "Job:\u0663",
        "Job: 1",
        "Job:+1",
        "Job:01",
        "Job:0",
        "Job:-1",
        "Job:1 ",
        "Job:99999999999999999999",
    ],
)
async def test_ids_are_taken_only_in_their_canonical_form_and_of_an_entity_type(
    callers: Callers, raw: str
) -> None:
    admin = await callers.make("admin", Grant(Role.ADMIN))
    encoded = base64.b64encode(raw.encode()).decode()
    for query, variables in (
        (NODE, {"id": encoded}),
        (NODES, {"ids": [encoded]}),
        (JOBS, {"w": {"id": {"eq": encoded}}}),
    ):
        error = await admin.error(query, **variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (query, error)


async def test_a_canonical_id_still_finds_its_row(callers: Callers) -> None:
    admin = await callers.make("admin", Grant(Role.ADMIN))
    job = await callers.first(m.Job)
    found = await admin.data(NODE, id=gid("Job", job))
    assert found["node"] == {"id": gid("Job", job)}


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2024-01-01T00:00:00"],
)
async def test_a_cursor_with_a_time_the_database_cannot_hold_is_bad_input(
    callers: Callers, moment: str
) -> None:
    admin = await callers.make("admin", Grant(Role.ADMIN))
    page = await admin.data(
        "{ jobs(first: 1, orderBy: [{field: CREATED_AT}]) { edges { cursor } } }"
    )
    cursor = page["jobs"]["edges"][0]["cursor"]
    ordering, values = json.loads(base64.urlsafe_b64decode(cursor))
    forged = base64.urlsafe_b64encode(json.dumps([ordering, [moment, values[1]]]).encode())
    error = await admin.error(
        "query($c: String!) { jobs(after: $c, orderBy: [{field: CREATED_AT}]) { totalCount "
        "nodes { id } } }",
        c=forged.decode(),
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error


@pytest.mark.parametrize("pattern", ["\\", "abc\\", "a\\\\\\"])
async def test_an_ilike_pattern_ending_in_a_lone_backslash_is_bad_input(
    callers: Callers, pattern: str
) -> None:
    admin = await callers.make("admin", Grant(Role.ADMIN))
    error = await admin.error(JOBS, w={"taskName": {"ilike": pattern}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    escaped = await admin.data(JOBS, w={"taskName": {"ilike": pattern + "\\"}})
    assert escaped["jobs"]["totalCount"] == 0


@pytest.mark.parametrize("levels", [70, 200, 400, 950])
async def test_variables_nested_deep_are_refused_with_a_code(
    callers: Callers, engine: AsyncEngine, levels: int
) -> None:
    viewer = await callers.make("viewer", Grant(Role.VIEWER, project_id=1))
    # written out: the encoder of the client would stop at its own recursion limit
    where = '{"not": ' * levels + '{"taskName": {"eq": "x"}}' + "}" * levels
    body = f'{{"query": {json.dumps(JOBS)}, "variables": {{"w": {where}}}}}'
    with counting_statements(engine) as statements:
        response = await callers.http.post(
            "/graphql",
            content=body,
            headers={
                "Authorization": f"Bearer {viewer.secret}",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    # (deeper than the JSON parser goes: the body is not read as JSON at all)
    expected = (
        {"code": "VARIABLES_TOO_DEEP", "limit": 64} if levels < 900 else {"code": "BAD_REQUEST"}
    )
    assert error["extensions"] == expected
    assert read_rows(statements) == []


async def test_a_document_sent_again_is_not_validated_again(
    callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variables' depth check leaves the validation cache's answer in place: a
    document the cache has seen is not validated again by strawberry, whatever its
    variables (which were checked every time)."""
    admin = await callers.make("admin", Grant(Role.ADMIN))
    create = "mutation($name: String!) { createProject(input: {name: $name}) { project { id } } }"
    await admin.data(create, name=f"validated once {id(callers)}")
    validated: list[object] = []
    original = strawberry_schema.validate_document

    def counted(*args: Any) -> Any:
        validated.append(args[1])
        return original(*args)

    # strawberry's own validation; the cache keeps the function it was made with
    monkeypatch.setattr(strawberry_schema, "validate_document", counted)
    for n in range(3):
        made = await admin.data(create, name=f"validated once {id(callers)} {n}")
        assert made["createProject"]["project"]["id"]
    assert validated == []


async def test_token_names_fit_the_actor_of_their_events(
    callers: Callers, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await callers.make("admin", Grant(Role.ADMIN))
    create = (
        "mutation($name: String!) { createApiToken(input: {name: $name, grants: "
        "[{role: ADMIN}]}) { secret } }"
    )
    error = await admin.error(create, name="n" * 201)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    made = await admin.data(create, name="n" * 200)
    longest = Caller(callers.http, made["createApiToken"]["secret"], 0)
    written = await longest.data(
        'mutation { createProject(input: {name: "named by a long token"}) { project { id } } }'
    )
    assert written["createProject"]["project"]["id"]
    async with sessionmaker() as session:
        actor = await session.scalar(
            select(m.Event.actor)
            .where(and_(m.Event.type == "created", m.Event.subject_type == "Project"))
            .order_by(m.Event.sequence.desc())
            .limit(1)
        )
    assert actor is not None and actor.startswith("n" * 200 + " (token ")
