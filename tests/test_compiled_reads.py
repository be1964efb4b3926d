"""Compiled reads against the executor: every query must get the same response both ways.

Two in-process applications share one connection and one transaction on a database with
the demo data: one with `compiled_reads` on, which answers what the planner compiles with
one SQL statement, and one with it off, where the executor (the reference) answers
everything. Each query goes to both, and the two bodies must be the same JSON, key for
key and in the same order, errors included; only `extensions` (the cost estimate and the
path report) may differ. The queries are written by hand (deep lists with filters, orders
and pages both ways, cursors, node(id) and nodes(ids), to-one relations) and generated
from the schema on the root lists, `node` and `nodes`, with small pages and a bounded
depth. Each is asked by the open server's local user and by tokens that may read one
study and one project only.

The runs are derandomized, so that CI sends the same queries every time;
SCIMETA_FUZZ_EXAMPLES sets the number of examples of each property for a longer search.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import graphql
import httpx
import hypothesis_graphql
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from strawberry.relay import GlobalID

from scimeta.auth.tokens import Grant, create_token
from scimeta.demo import load_demo
from scimeta.models import Role
from scimeta.resolvers.schema import schema
from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.server.settings import Settings
from tests.conftest import DatabaseFactory, GraphQLClient, started
from tests.test_fuzz import fuzz_settings, literal, with_variables

SDL = schema.as_str()
SCHEMA = graphql.build_schema(SDL)
assert SCHEMA.query_type is not None
NODE_INTERFACE = SCHEMA.type_map["Node"]
assert isinstance(NODE_INTERFACE, graphql.GraphQLInterfaceType)
NODE_TYPES = sorted(node.name for node in SCHEMA.get_possible_types(NODE_INTERFACE))

LIST_FIELDS = (
    "studies",
    "participants",
    "recordings",
    "projects",
    "jobs",
    "files",
    "runs",
    "trajectories",
    "chunks",
    "molecules",
    "calculations",
    "batches",
    "metricKeys",
    "metrics",
    "events",
)
ROOT_FIELDS = (*LIST_FIELDS, "node", "nodes")
assert set(ROOT_FIELDS) <= set(SCHEMA.query_type.fields)


REPORT = {"Scimeta-Report": "path"}
# the project the demo data does not have, so that a grant on a project leaves rows out
OTHER_PROJECT = "other-project"


# --- the database and the two applications -------------------------------------------


@dataclass(frozen=True)
class Known:
    """Global ids of demo rows, looked up once the data is loaded."""

    ids: dict[str, str]
    # the row keys of the grants' studies and projects
    keys: dict[str, int]


SEED_OTHER_PROJECT = """
mutation($name: String!) { createProject(input: {name: $name}) { project { id } } }"""
SEED_OTHER_ROWS = """
mutation($project: ID!) {
  createJob(input: {projectId: $project, taskName: "refmac"}) { job { id } }
}"""
SEED_OTHER_FILE = """
mutation($project: ID!, $job: ID!) {
  importFile(input: {projectId: $project, jobId: $job, importedFrom: "disk",
                     file: {path: "/other/in.mtz", checksum: "other-checksum"}}) { file { id } }
}"""

# what `Known.ids` names: a row of each kind, by SQL on the demo data
KNOWN_ROWS = {
    "study": ("Study", "SELECT id FROM studies WHERE name = 'AOA'"),
    "other_study": ("Study", "SELECT id FROM studies WHERE name = 'pincell-001'"),
    "participant": (
        "Participant",
        "SELECT p.id FROM participants p JOIN studies s ON s.id = p.study_id "
        "WHERE s.name = 'AOA' ORDER BY p.number LIMIT 1",
    ),
    "recording": (
        "Recording",
        "SELECT r.id FROM recordings r JOIN participants p ON p.id = r.participant_id "
        "JOIN studies s ON s.id = p.study_id WHERE s.name = 'AOA' AND r.file_id IS NOT NULL "
        "ORDER BY r.id LIMIT 1",
    ),
    "other_recording": (
        "Recording",
        "SELECT r.id FROM recordings r JOIN participants p ON p.id = r.participant_id "
        "JOIN studies s ON s.id = p.study_id WHERE s.name = 'preOA' ORDER BY r.id LIMIT 1",
    ),
    "run": ("Run", "SELECT id FROM runs WHERE study_id IS NOT NULL ORDER BY id LIMIT 1"),
    "job": ("Job", "SELECT id FROM jobs ORDER BY id LIMIT 1"),
    "molecule": ("Molecule", "SELECT id FROM molecules ORDER BY id LIMIT 1"),
}
KNOWN_KEYS = {
    "AOA": "SELECT id FROM studies WHERE name = 'AOA'",
    "pincell-001": "SELECT id FROM studies WHERE name = 'pincell-001'",
    "lysozyme-001": "SELECT id FROM projects WHERE name = 'lysozyme-001'",
    OTHER_PROJECT: f"SELECT id FROM projects WHERE name = '{OTHER_PROJECT}'",
}

KNOWN: list[Known] = []


@pytest.fixture(scope="module")
async def demo_engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database of this module's own with the demo data and a second project (with a
    job and a file), committed; its row ids are small numbers."""
    engine = await databases.migrated_engine()
    await load_demo(engine, 1)
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        seed = GraphQLClient(http)
        made = await seed.data(SEED_OTHER_PROJECT, name=OTHER_PROJECT)
        project = made["createProject"]["project"]["id"]
        job = (await seed.data(SEED_OTHER_ROWS, project=project))["createJob"]["job"]["id"]
        await seed.data(SEED_OTHER_FILE, project=project, job=job)
    async with engine.connect() as connection:
        ids = {}
        for name, (type_name, sql) in KNOWN_ROWS.items():
            key = (await connection.execute(text(sql))).scalar_one()
            ids[name] = str(GlobalID(type_name, str(key)))
        keys = {
            name: (await connection.execute(text(sql))).scalar_one()
            for name, sql in KNOWN_KEYS.items()
        }
    KNOWN.append(Known(ids, keys))
    yield engine
    KNOWN.clear()
    await engine.dispose()


@pytest.fixture
def known(demo_engine: AsyncEngine) -> Known:
    return KNOWN[0]


# Callers: the local user of the open server (no token), and two tokens, each a viewer of
# one study and one project.
OPEN = "open"
AOA_VIEWER = "viewer-AOA-lysozyme"
PINCELL_VIEWER = "viewer-pincell-other"
CALLER_GRANTS = {
    AOA_VIEWER: ("AOA", "lysozyme-001"),
    PINCELL_VIEWER: ("pincell-001", OTHER_PROJECT),
}
CALLERS = (OPEN, *CALLER_GRANTS)


@dataclass
class Response:
    status: int
    # the body as (key, value) pairs in the server's order, without `extensions`
    body: list[Any]
    # `extensions.scimeta.path`: which path answered, when reported
    path: str | None
    data: Any
    errors: list[dict[str, Any]] | None


def decode(response: httpx.Response) -> Response:
    # objects as lists of (key, value) tuples keep their key order in the comparison;
    # arrays stay lists, so an array never equals an object
    pairs = json.loads(response.content, object_pairs_hook=list)
    assert isinstance(pairs, list), response.text
    body = [(key, value) for key, value in pairs if key != "extensions"]
    plain = response.json()
    report = (plain.get("extensions") or {}).get("scimeta") or {}
    return Response(
        status=response.status_code,
        body=body,
        path=report.get("path"),
        data=plain.get("data"),
        errors=plain.get("errors"),
    )


@dataclass
class BothWays:
    """One request sent to the compiled-reads application and to the executor's."""

    compiled: httpx.AsyncClient
    executor: httpx.AsyncClient
    authorization: dict[str, dict[str, str]]

    async def send(
        self, caller: str, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[Response, Response]:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        headers = {**REPORT, **self.authorization[caller]}
        compiled = await self.compiled.post("/graphql", json=payload, headers=headers)
        executor = await self.executor.post("/graphql", json=payload, headers=headers)
        return decode(compiled), decode(executor)

    async def same(
        self, caller: str, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[Response, Response]:
        """Both answers, after checking that they are the same."""
        compiled, executor = await self.send(caller, query, variables)
        assert compiled.status == executor.status, describe(query, variables, compiled, executor)
        assert compiled.body == executor.body, describe(query, variables, compiled, executor)
        return compiled, executor


def describe(
    query: str, variables: dict[str, Any] | None, compiled: Response, executor: Response
) -> str:
    def shown(response: Response) -> str:
        return json.dumps(response.body)[:20_000]

    return (
        f"--- query ---\n{query}\nvariables: {json.dumps(variables)}\n"
        f"--- compiled reads ({compiled.status}, path {compiled.path}) ---\n{shown(compiled)}\n"
        f"--- executor ({executor.status}, path {executor.path}) ---\n{shown(executor)}"
    )


@contextlib.asynccontextmanager
async def both_ways(engine: AsyncEngine, known: Known) -> AsyncIterator[BothWays]:
    """The two applications on one connection, inside a transaction rolled back
    afterwards; the tokens are made after both started, so header-less requests stay the
    local user's."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            sessionmaker = async_sessionmaker(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            compiled_app = await started(
                create_app(Settings(compiled_reads=True), sessionmaker=sessionmaker)
            )
            executor_app = await started(
                create_app(Settings(compiled_reads=False), sessionmaker=sessionmaker)
            )
            authorization: dict[str, dict[str, str]] = {OPEN: {}}
            async with sessionmaker() as session:
                for name, (study, project) in CALLER_GRANTS.items():
                    made = await create_token(
                        session,
                        name=name,
                        grants=[
                            Grant(Role.VIEWER, study_id=known.keys[study]),
                            Grant(Role.VIEWER, project_id=known.keys[project]),
                        ],
                    )
                    authorization[name] = {"Authorization": f"Bearer {made.secret}"}
                await session.commit()
            async with (
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=compiled_app), base_url="http://localhost"
                ) as compiled,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=executor_app), base_url="http://localhost"
                ) as executor,
            ):
                yield BothWays(compiled, executor, authorization)
        finally:
            await transaction.rollback()


@pytest.fixture
async def apps(demo_engine: AsyncEngine, known: Known) -> AsyncIterator[BothWays]:
    async with both_ways(demo_engine, known) as apps:
        yield apps


# --- hand-written queries ----------------------------------------------------------------

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"

DEEP = f"""
query Deep($studies: [String!]) {{
  studies(where: {{name: {{in: $studies}}}}, orderBy: [{{field: NAME, direction: DESC}}]) {{
    totalCount
    {PAGE_INFO}
    edges {{ cursor node {{
      id name title
      participants(first: 2, where: {{number: {{gte: 1011}}}},
                   orderBy: [{{field: NUMBER, direction: DESC}}]) {{
        totalCount
        {PAGE_INFO}
        edges {{ cursor node {{
          id number attributes
          study {{ id name }}
          recordings(last: 3, where: {{maneuver: {{in: [WALK, SIT_TO_STAND]}}}},
                     orderBy: [{{field: KNEE}}, {{field: PASS_NUMBER, direction: DESC}}]) {{
            totalCount
            {PAGE_INFO}
            edges {{ cursor node {{
              id kind maneuver knee passNumber qcPassed qcFailSegments
              participant {{ number study {{ name }} }}
              file {{ id name path checksum }}
            }} }}
          }}
        }} }}
      }}
    }} }}
  }}
}}"""

# the same levels, each page after or before a cursor: the cursors hold sort values only,
# so one cursor pages the participants of every study
DEEP_CURSORS = f"""
query DeepCursors($participantsAfter: String, $recordingsBefore: String) {{
  studies(first: 3, after: null) {{
    {PAGE_INFO}
    nodes {{
      name
      participants(first: 2, after: $participantsAfter,
                   orderBy: [{{field: NUMBER, direction: DESC}}]) {{
        totalCount
        {PAGE_INFO}
        edges {{ cursor node {{
          number
          recordings(last: 2, before: $recordingsBefore,
                     orderBy: [{{field: KNEE}}, {{field: PASS_NUMBER, direction: DESC}}]) {{
            {PAGE_INFO}
            edges {{ cursor node {{ knee passNumber maneuver participant {{ number }} }} }}
          }}
        }} }}
      }}
    }}
  }}
}}"""

TO_ONE = """
{
  recordings(first: 4, where: {file: {name: {ilike: "%audio%"}}}) {
    nodes { id kind participant { number study { name } } file { name path } }
  }
  runs(first: 5, orderBy: [{field: NAME, direction: DESC}]) {
    nodes { name status phase study { name } }
  }
  chunks(first: 3) {
    totalCount
    nodes { index attempt auditStatus trajectory { index run { name } } file { path } }
  }
  jobs(first: 3, where: {parent: {number: {eq: "1"}}}) {
    nodes { number taskName project { name } parent { number } }
  }
}"""

COUNTS_AND_PAGES = f"""
{{
  events(last: 3) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ sequence type }} }} }}
  participants(first: 0) {{ totalCount {PAGE_INFO} nodes {{ id }} }}
  metricKeys(first: 4, orderBy: [{{field: NAME, direction: DESC}}]) {{
    {PAGE_INFO} edges {{ cursor node {{ name }} }}
  }}
  molecules(where: {{or: [{{smiles: {{eq: "CCO"}}}}, {{name: {{ilike: "meth%"}}}}]}}) {{
    totalCount nodes {{ smiles name calculations(first: 2) {{ totalCount nodes {{ id }} }} }}
  }}
  files(first: 3, where: {{not: {{path: {{ilike: "/data/%"}}}}}}) {{ nodes {{ path checksum }} }}
}}"""

# pages without rows where only the flag of the other direction is selected
EMPTY_PAGES = """
{
  studies(where: {name: {eq: "no such study"}}, first: 1) { pageInfo { hasPreviousPage } }
  participants(where: {number: {eq: 5}}, last: 2) { pageInfo { hasNextPage } }
  projects {
    nodes { name jobs(where: {taskName: {eq: "no such task"}}) { pageInfo { hasPreviousPage } } }
  }
}"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Participant {
      number study { name }
      recordings(first: 2, orderBy: [{field: CREATED_AT, direction: DESC}]) {
        totalCount nodes { kind knee file { name } }
      }
    }
  }
}"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on Study { name participants(first: 1) { nodes { number } } }
    ... on Participant { number }
    ... on Recording { kind participant { number } file { path } }
    ... on Run { name study { name } }
    ... on Job { path: number taskName }
    ... on Molecule { smiles }
  }
}"""

# a node of another type than the fragments ask for: only what the interface has
NODE_OF_ANOTHER_TYPE = """
query Node($id: ID!) {
  node(id: $id) { __typename id ... on Participant { number } ... on Study { name } }
}"""


def missing(type_name: str) -> str:
    return str(GlobalID(type_name, "999999999"))


# what a token that may not see a row gets for its id
HIDDEN = {AOA_VIEWER: "NOT_FOUND", PINCELL_VIEWER: "NOT_FOUND"}


@dataclass(frozen=True)
class Case:
    query: str
    variables: Callable[[Known], dict[str, Any]]
    # the error code both must answer each caller with; a caller not named gets an answer
    # without errors, which compiled reads must give
    errors: dict[str, str] = dataclasses.field(default_factory=dict)


def everyone(code: str) -> dict[str, str]:
    return dict.fromkeys(CALLERS, code)


def ids(*names: str) -> Callable[[Known], dict[str, Any]]:
    return lambda known: {"ids": [known.ids[name] for name in names]}


CASES = {
    "deep-studies-participants-recordings": Case(
        DEEP, lambda known: {"studies": ["AOA", "preOA", "pincell-001"]}
    ),
    "deep-with-after-and-before": Case(
        DEEP_CURSORS,
        lambda known: {
            "participantsAfter": cursor("number:desc,id:desc", [1013, 0]),
            "recordingsBefore": cursor("knee:asc,pass_number:desc,id:desc", ["RIGHT", 2, 0]),
        },
    ),
    "to-one-relations": Case(TO_ONE, lambda known: {}),
    "counts-pages-and-cursors": Case(COUNTS_AND_PAGES, lambda known: {}),
    "the-other-directions-flag-of-an-empty-page": Case(EMPTY_PAGES, lambda known: {}),
    "node-by-id": Case(
        NODE,
        lambda known: {"id": known.ids["participant"]},
        errors={PINCELL_VIEWER: "NOT_FOUND"},
    ),
    "node-of-a-study-no-token-may-read": Case(
        NODE, lambda known: {"id": known.ids["other_recording"]}, errors=HIDDEN
    ),
    "node-of-another-type-than-its-fragments": Case(
        NODE_OF_ANOTHER_TYPE,
        lambda known: {"id": known.ids["recording"]},
        errors={PINCELL_VIEWER: "NOT_FOUND"},
    ),
    "nodes-by-ids": Case(
        NODES, ids("study", "participant", "recording", "job"), errors={PINCELL_VIEWER: "NOT_FOUND"}
    ),
    "nodes-by-ids-with-runs-and-chemistry": Case(
        NODES, ids("other_study", "run", "molecule", "study"), errors=HIDDEN
    ),
    "node-missing": Case(NODE, lambda known: {"id": missing("Participant")}, everyone("NOT_FOUND")),
    "nodes-with-a-missing-id": Case(
        NODES,
        lambda known: {"ids": [known.ids["participant"], missing("Recording")]},
        everyone("NOT_FOUND"),
    ),
    "node-of-no-node-type": Case(
        NODE,
        lambda known: {"id": base64.b64encode(b"Nothing:1").decode()},
        everyone("BAD_USER_INPUT"),
    ),
    "node-of-an-event": Case(
        NODE,
        lambda known: {"id": base64.b64encode(b"Event:1").decode()},
        everyone("BAD_USER_INPUT"),
    ),
    "first-and-last": Case(
        "{ studies(first: 1, last: 1) { nodes { name } } }",
        lambda known: {},
        everyone("BAD_USER_INPUT"),
    ),
}


def has_rows(value: Any) -> bool:
    """Whether an answer holds anything: a non-empty list or text, a number other than 0,
    a boolean, or an object with any of these."""
    if isinstance(value, dict):
        return any(has_rows(item) for item in value.values())
    if isinstance(value, bool):
        return True
    return bool(value)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", CASES)
async def test_a_written_query_gets_the_same_answer_both_ways(
    apps: BothWays, known: Known, name: str, caller: str
) -> None:
    case = CASES[name]
    variables = case.variables(known)
    compiled, executor = await apps.same(caller, case.query, variables)
    assert executor.path == "executor"
    error = case.errors.get(caller)
    if error is None:
        assert executor.errors is None, executor.errors
        assert has_rows(executor.data), executor.data
        assert compiled.path == "compiled", describe(case.query, variables, compiled, executor)
    else:
        assert executor.errors is not None, executor.data
        assert {found["extensions"]["code"] for found in executor.errors} == {error}


async def test_a_scoped_caller_sees_only_its_study(apps: BothWays) -> None:
    """The deep query shows each caller its own studies (so the answers compared above are
    not all the open server's)."""
    variables = {"studies": ["AOA", "preOA", "pincell-001"]}
    seen = {}
    for caller in CALLERS:
        compiled, _ = await apps.same(caller, DEEP, variables)
        seen[caller] = [edge["node"]["name"] for edge in compiled.data["studies"]["edges"]]
        assert compiled.path == "compiled"
    assert seen == {
        OPEN: ["preOA", "pincell-001", "AOA"],
        AOA_VIEWER: ["AOA"],
        PINCELL_VIEWER: ["pincell-001"],
    }


# --- walking pages with cursors ------------------------------------------------------------

ROOT_PAGE = f"""
query Page($first: Int, $after: String, $last: Int, $before: String) {{
  participants(first: $first, after: $after, last: $last, before: $before,
               orderBy: [{{field: NUMBER, direction: DESC}}]) {{
    totalCount {PAGE_INFO} edges {{ cursor node {{ id number study {{ name }} }} }}
  }}
}}"""

NESTED_PAGE = f"""
query Page($study: ID!, $first: Int, $after: String, $last: Int, $before: String) {{
  node(id: $study) {{ ... on Study {{
    name
    participants(first: $first, after: $after, last: $last, before: $before) {{
      {PAGE_INFO} edges {{ cursor node {{ number recordings(first: 1) {{ nodes {{ kind }} }} }} }}
    }}
  }} }}
}}"""


def connection_of(data: dict[str, Any]) -> dict[str, Any]:
    if "participants" in data and "edges" in data["participants"]:
        found: dict[str, Any] = data["participants"]
    else:
        found = data["node"]["participants"]
    return found


async def walk(
    apps: BothWays, caller: str, query: str, variables: dict[str, Any], backward: bool
) -> list[dict[str, Any]]:
    """Every item of a list, a page of two at a time, each page compared both ways."""
    items: list[dict[str, Any]] = []
    position: str | None = None
    for _ in range(20):
        page = {"last": 2, "before": position} if backward else {"first": 2, "after": position}
        sent = {**variables, **page}
        compiled, executor = await apps.same(caller, query, sent)
        assert executor.errors is None, executor.errors
        assert compiled.path == "compiled", describe(query, sent, compiled, executor)
        connection = connection_of(executor.data)
        edges = connection["edges"]
        info = connection["pageInfo"]
        assert len(edges) <= 2
        items = [*edges, *items] if backward else [*items, *edges]
        more = info["hasPreviousPage"] if backward else info["hasNextPage"]
        if not more:
            return items
        position = info["startCursor"] if backward else info["endCursor"]
        assert position == (edges[0] if backward else edges[-1])["cursor"]
    raise AssertionError("the pages did not end")


@pytest.mark.parametrize("caller", CALLERS)
async def test_pages_followed_by_cursors_are_the_same_both_ways(
    apps: BothWays, known: Known, caller: str
) -> None:
    everything, _ = await apps.same(caller, ROOT_PAGE, {"first": 100})
    expected = everything.data["participants"]["edges"]
    assert len(expected) == everything.data["participants"]["totalCount"]
    forward = await walk(apps, caller, ROOT_PAGE, {}, backward=False)
    backward = await walk(apps, caller, ROOT_PAGE, {}, backward=True)
    assert forward == backward == expected
    assert len(expected) == {OPEN: 6, AOA_VIEWER: 3, PINCELL_VIEWER: 0}[caller]

    # a study the caller may read: AOA has three participants, pincell-001 none
    study = {"study": known.ids["other_study" if caller == PINCELL_VIEWER else "study"]}
    nested_forward = await walk(apps, caller, NESTED_PAGE, study, backward=False)
    nested_backward = await walk(apps, caller, NESTED_PAGE, study, backward=True)
    assert nested_forward == nested_backward
    numbers = [edge["node"]["number"] for edge in nested_forward]
    assert numbers == ([] if caller == PINCELL_VIEWER else [1011, 1012, 1013])


# --- queries generated from the schema --------------------------------------------------------

# Values each scalar takes, chosen so that filters match demo rows often: names and words
# of the demo data, LIKE patterns, small numbers (row ids are small in a new database).
WORDS = [
    "AOA",
    "preOA",
    "pincell-001",
    "lysozyme-001",
    OTHER_PROJECT,
    "run_00001",
    "run_00006",
    "refmac",
    "aimless",
    "keff",
    "Rfactor",
    "CCO",
    "C",
    "ethanol",
    "water",
    "medium",
    "fast",
    "AE-2317",
    "created",
    "status_changed",
    "/other/in.mtz",
    "1",
    "1.1",
    "",
]
PATTERNS = ["%", "%a%", "A%", "%0%", "%_audio%", "run_%", "%.pkl"]


def global_id(type_name: str, key: object) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


# Node ids of rows 1 to 4 mostly exist (the demo data has fewer projects and batches);
# some name rows further on, or none.
IDS = st.builds(
    global_id, st.sampled_from(NODE_TYPES), st.sampled_from([1, 1, 2, 2, 3, 4, 12, 30, 999_999_999])
)


def cursor(ordering: str, values: list[Any]) -> str:
    payload = json.dumps([ordering, values], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode()


# Well-formed cursors of the orderings lists have, with values near the demo rows': they
# pass decoding when the list has that ordering and are refused (the same way) otherwise.
CURSORS = st.one_of(
    st.builds(
        cursor,
        st.sampled_from(["id:asc", "id:desc"]),
        st.lists(st.integers(0, 60), min_size=1, max_size=1),
    ),
    st.builds(
        cursor,
        st.sampled_from(["number:asc,id:asc", "sequence:asc,id:asc", "index:asc,id:asc"]),
        st.lists(st.integers(0, 1100), min_size=2, max_size=2),
    ),
    st.builds(
        cursor,
        st.sampled_from(["name:asc,id:asc", "name:desc,id:desc"]),
        st.tuples(st.sampled_from(WORDS), st.integers(0, 40)).map(list),
    ),
    st.just("not a cursor"),
)

TEXT = st.sampled_from(WORDS) | st.sampled_from(PATTERNS) | st.text("aAeo01_%-", max_size=3)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    name: strategy.map(literal)
    for name, strategy in {
        "ID": IDS,
        "String": TEXT,
        "Int": st.integers(-1, 40) | st.sampled_from([1011, 1012, 1013, 2**31 - 1]),
        "Float": st.sampled_from([-10.0, -5.1, 0.0, 0.5, 1.0, 100.0]),
        "Long": st.integers(-1, 250),
        "DateTime": st.sampled_from(
            ["2000-01-01T00:00:00+00:00", "2100-01-01T00:00:00Z", "2024-06-01"]
        ),
        "JSON": st.sampled_from([{}, {"sex": "F"}, {"kl_grade": 3}, {"age": 69}]),
    }.items()
}

# fields below this depth (the root fields are at 1) select only __typename
MAX_DEPTH = 6
PAGE_SIZES = st.integers(0, 5)
TYPENAME = graphql.SelectionSetNode(
    selections=(graphql.FieldNode(name=graphql.NameNode(value="__typename")),)
)


def _argument(name: str, value: graphql.ValueNode) -> graphql.ArgumentNode:
    return graphql.ArgumentNode(name=graphql.NameNode(value=name), value=value)


def _page_arguments(
    draw: st.DrawFn, arguments: tuple[graphql.ArgumentNode, ...], cursors: bool
) -> tuple[graphql.ArgumentNode, ...]:
    """A list field's arguments with a small page: `where` and `orderBy` as generated or
    left out, `first` or `last` (rarely both, or neither: the default page), and, if
    `cursors`, a well-formed cursor now and then."""
    by_name = {argument.name.value: argument for argument in arguments}
    kept = [
        argument
        for name in ("where", "orderBy")
        if (argument := by_name.get(name)) is not None and draw(st.booleans())
    ]
    sizes = draw(st.sampled_from(["first"] * 5 + ["last"] * 3 + ["none"] * 2 + ["both"]))
    for name in ("first", "last"):
        if sizes in (name, "both"):
            kept.append(_argument(name, literal(draw(PAGE_SIZES))))
    for name in ("after", "before"):
        if cursors and draw(st.integers(0, 3)) == 0:
            kept.append(_argument(name, literal(draw(CURSORS))))
    others = [a for a in arguments if a.name.value not in PAGE_ARGUMENTS]
    return (*others, *kept)


PAGE_ARGUMENTS = {"where", "orderBy", "first", "last", "after", "before"}


def _shape(
    draw: st.DrawFn, selection_set: graphql.SelectionSetNode, depth: int, cursors: bool
) -> graphql.SelectionSetNode:
    """The selections with small pages and no field deeper than MAX_DEPTH; with `cursors`,
    some lists get a cursor (which mostly belongs to another ordering than theirs: the
    walks below follow the cursors the lists give)."""
    shaped: list[graphql.SelectionNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, graphql.InlineFragmentNode):
            inner = _shape(draw, selection.selection_set, depth, cursors)
            shaped.append(dataclasses.replace(selection, selection_set=inner))
        elif isinstance(selection, graphql.FieldNode):
            arguments = tuple(selection.arguments or ())
            if any(argument.name.value == "first" for argument in arguments):
                arguments = _page_arguments(draw, arguments, cursors)
            below = selection.selection_set
            if below is not None:
                below = TYPENAME if depth >= MAX_DEPTH else _shape(draw, below, depth + 1, cursors)
            shaped.append(dataclasses.replace(selection, arguments=arguments, selection_set=below))
        else:
            shaped.append(selection)
    return dataclasses.replace(selection_set, selections=tuple(shaped))


def _keep(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


def _generated(fields: list[str], allow_null: bool) -> st.SearchStrategy[graphql.DocumentNode]:
    return hypothesis_graphql.queries(
        SDL, fields=fields, custom_scalars=SCALARS, print_ast=_keep, allow_null=allow_null
    )


DOCUMENTS = st.one_of(
    st.tuples(st.sampled_from(ROOT_FIELDS), st.booleans()).flatmap(
        lambda drawn: _generated([drawn[0]], drawn[1])
    ),
    _generated(list(ROOT_FIELDS), allow_null=False),
)


def _operation(document: graphql.DocumentNode) -> graphql.OperationDefinitionNode:
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return operation


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, dict[str, Any] | None]:
    """A generated query on the root lists, `node` and `nodes`, shaped; in a third of them
    the arguments are variables."""
    document = draw(DOCUMENTS)
    operation = _operation(document)
    operation = dataclasses.replace(
        operation,
        selection_set=_shape(
            draw, operation.selection_set, 1, cursors=draw(st.integers(0, 4)) == 0
        ),
    )
    document = dataclasses.replace(document, definitions=(operation,))
    if draw(st.integers(0, 2)) == 0:
        lifted, variables = with_variables(document)
        return graphql.print_ast(lifted), variables
    return graphql.print_ast(document), None


def assert_paths(compiled: Response, executor: Response) -> None:
    """The executor's application never answers on the compiled path, and both execute
    the same requests (one refused before execution reports no path)."""
    assert executor.path in ("executor", None)
    assert compiled.path in ("compiled", "executor", None)
    assert (compiled.path is None) == (executor.path is None)


@pytest.fixture
def examples(demo_engine: AsyncEngine, known: Known) -> Callable[[], Any]:
    """Both applications on a transaction of each example's own, so that one example's
    failed statement cannot touch the next."""
    return functools.partial(both_ways, demo_engine, known)


@fuzz_settings(150)
@given(query=queries(), caller=st.sampled_from(CALLERS))
async def test_generated_queries_get_the_same_answer_both_ways(
    examples: Callable[[], Any], query: tuple[str, dict[str, Any] | None], caller: str
) -> None:
    text_, variables = query
    async with examples() as apps:
        compiled, executor = await apps.same(caller, text_, variables)
    assert_paths(compiled, executor)
    event(f"compiled reads answered on the {compiled.path} path")


@st.composite
def walks(draw: st.DrawFn) -> tuple[str, int, bool]:
    """A generated query of one root list (as `list`) whose page size and cursor are
    variables, for following its pages: the document, the page size and whether it walks
    backward."""
    field = draw(st.sampled_from(LIST_FIELDS))
    document = draw(_generated([field], allow_null=draw(st.booleans())))
    operation = _operation(document)
    root = operation.selection_set.selections[0]
    assert isinstance(root, graphql.FieldNode) and root.selection_set is not None
    selections = _shape(draw, root.selection_set, 2, cursors=False)
    page_info = graphql.parse(f"{{ walk: {PAGE_INFO} }}")
    walk_selection = _operation(page_info).selection_set.selections[0]
    backward = draw(st.booleans())
    size, cursor_ = ("last", "before") if backward else ("first", "after")
    arguments = [
        argument
        for argument in root.arguments or ()
        if argument.name.value in ("where", "orderBy") and draw(st.booleans())
    ]
    for name in (size, cursor_):
        variable = graphql.VariableNode(name=graphql.NameNode(value=name))
        arguments.append(_argument(name, variable))
    root = dataclasses.replace(
        root,
        alias=graphql.NameNode(value="list"),
        arguments=tuple(arguments),
        selection_set=dataclasses.replace(
            selections, selections=(*selections.selections, walk_selection)
        ),
    )
    declared = f"query Walk(${size}: Int, ${cursor_}: String) {{ {graphql.print_ast(root)} }}"
    return declared, draw(st.integers(1, 3)), backward


@fuzz_settings(50)
@given(walk_=walks(), caller=st.sampled_from(CALLERS))
async def test_generated_pages_followed_by_cursors_get_the_same_answers_both_ways(
    examples: Callable[[], Any], walk_: tuple[str, int, bool], caller: str
) -> None:
    query, size, backward = walk_
    size_name, cursor_name = ("last", "before") if backward else ("first", "after")
    cursor_: str | None = None
    async with examples() as apps:
        for _ in range(3):
            variables = {size_name: size, cursor_name: cursor_}
            compiled, executor = await apps.same(caller, query, variables)
            assert_paths(compiled, executor)
            event(f"compiled reads answered on the {compiled.path} path")
            if executor.data is None:
                break
            info = executor.data["list"]["walk"]
            if not (info["hasPreviousPage"] if backward else info["hasNextPage"]):
                break
            cursor_ = info["startCursor"] if backward else info["endCursor"]
            assert cursor_ is not None
