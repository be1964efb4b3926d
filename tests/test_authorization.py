"""The authorization matrix: API tokens with a role on project A or on study A, against
every kind of read and write, on A's rows (own) and on B's (other).

Reads show a token its scope's rows only; writes on its rows succeed or are FORBIDDEN by
its role; B's rows cannot be found (NOT_FOUND) whatever the role; a refusal writes
nothing. Tokens that cannot be used get HTTP 401 with the reason.

The world (projects, studies and their rows, on sides A and B) is seeded once for the
module, through mutations of the local admin, into a database of its own: this module
overrides the `engine` fixture, so the conftest's `connection`, `session` and `graphql`
fixtures run each test in a rolled-back transaction on that database. Tokens are made
inside each test's transaction, after its app started (open: header-less requests stay
the local admin's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import BigInteger, func, literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from strawberry.relay import GlobalID

from scimeta.auth.tokens import Grant, create_token, revoke_token
from scimeta.models import Base, Role
from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from tests.conftest import DatabaseFactory, GraphQLClient, started

# the module's seed creates a molecule by SMILES
pytestmark = pytest.mark.chemistry

Side = dict[str, str]

# --- the world: two of everything, B made first (so B's rows are the older ones) ----------

SEED_ROOTS = """
mutation($side: String!, $project: String!, $study: String!) {
  createProject(input: {name: $project}) { project { id } }
  createStudy(input: {name: $study, title: $side}) { study { id } }
}"""
SEED_PARENTS = """
mutation($project: ID!, $study: ID!, $run: String!) {
  createJob(input: {projectId: $project, taskName: "refine"}) { job { id } }
  saveParticipant(input: {studyId: $study, number: 1}) { participant { id } }
  createRun(input: {name: $run, studyId: $study}) { run { id } }
}"""
SEED_CHILDREN = """
mutation($project: ID!, $job: ID!, $participant: ID!, $run: ID!, $checksum: String!) {
  createJob(input: {parentId: $job, taskName: "child"}) { job { id } }
  importFile(input: {projectId: $project, jobId: $job, importedFrom: "disk",
                     file: {path: "/in.mtz", checksum: $checksum}}) { file { id } }
  jobMetric: recordMetrics(subjectId: $job, metrics: [{key: "rfactor", value: 0.2}]) {
    subject { ... on Job { metrics { nodes { id } } files { nodes { id } } } }
  }
  saveRecording(input: {participantId: $participant, kind: AUDIO, maneuver: WALK,
                        knee: LEFT, passNumber: 1}) { recording { id } }
  initializeTrajectory(input: {runId: $run, index: 0, targetLength: 10}) {
    trajectory { id }
  }
  runMetric: recordMetrics(subjectId: $run, metrics: [{key: "keff", value: 1.0}]) {
    subject { ... on Run { metrics { nodes { id } } } }
  }
}"""
SEED_CHUNK = """
mutation($trajectory: ID!) {
  addChunkAttempt(input: {trajectoryId: $trajectory, index: 0, frameCount: 5}) {
    chunk { id }
  }
}"""
SEED_MOLECULE = """
mutation { createMolecule(input: {smiles: "CCO", name: "ethanol"}) { molecule { id } } }"""


async def seed_side(graphql: GraphQLClient, side: str) -> Side:
    roots = await graphql.data(
        SEED_ROOTS, side=side, project=f"project-{side}", study=f"study-{side}"
    )
    ids = {
        "project": roots["createProject"]["project"]["id"],
        "study": roots["createStudy"]["study"]["id"],
    }
    parents = await graphql.data(
        SEED_PARENTS, project=ids["project"], study=ids["study"], run=f"run-{side}"
    )
    ids |= {
        "job": parents["createJob"]["job"]["id"],
        "participant": parents["saveParticipant"]["participant"]["id"],
        "run": parents["createRun"]["run"]["id"],
    }
    children = await graphql.data(
        SEED_CHILDREN,
        project=ids["project"],
        job=ids["job"],
        participant=ids["participant"],
        run=ids["run"],
        checksum=f"checksum-{side}",
    )
    job = children["jobMetric"]["subject"]
    ids |= {
        "child": children["createJob"]["job"]["id"],
        "file": children["importFile"]["file"]["id"],
        "job_file": job["files"]["nodes"][0]["id"],
        "job_metric": job["metrics"]["nodes"][0]["id"],
        "recording": children["saveRecording"]["recording"]["id"],
        "trajectory": children["initializeTrajectory"]["trajectory"]["id"],
        "run_metric": children["runMetric"]["subject"]["metrics"]["nodes"][0]["id"],
    }
    chunk = await graphql.data(SEED_CHUNK, trajectory=ids["trajectory"])
    ids["chunk"] = chunk["addChunkAttempt"]["chunk"]["id"]
    return ids


@dataclass(frozen=True)
class World:
    a: Side
    b: Side
    molecule: str
    # as the local admin sees them: every event, and A's project and study trees
    events: list[dict[str, Any]]
    trees: dict[str, dict[str, Any]]

    def side(self, name: str) -> Side:
        return self.a if name == "A" else self.b


SEEDED: list[World] = []


@pytest.fixture(scope="module")
async def engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """A database of this module's own, seeded once (committed) through the local admin;
    overrides the conftest's `engine`, so each test still runs in a rolled-back
    transaction."""
    engine = await databases.migrated_engine()
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        graphql = GraphQLClient(http)
        b = await seed_side(graphql, "B")
        a = await seed_side(graphql, "A")
        molecule = (await graphql.data(SEED_MOLECULE))["createMolecule"]["molecule"]["id"]
        events = (await graphql.data(EVENTS))["events"]["nodes"]
        trees = {scope: await tree(graphql, scope, a[scope]) for scope in TREES}
    SEEDED.append(World(a=a, b=b, molecule=molecule, events=events, trees=trees))
    yield engine
    SEEDED.clear()
    await engine.dispose()


@pytest.fixture
def world(engine: AsyncEngine) -> World:
    return SEEDED[0]


def row_id(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


# --- callers ---------------------------------------------------------------------------------


@dataclass
class Caller:
    """Requests with a token's secret."""

    http: httpx.AsyncClient
    secret: str
    token_id: int

    async def post(self, query: str, **variables: Any) -> httpx.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.secret}"},
        )

    async def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, **variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.execute(query, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def refused(self, query: str, **variables: Any) -> dict[str, Any]:
        """The one error of an operation that must fail as a whole."""
        body = await self.execute(query, **variables)
        assert body.get("data") is None, body
        (error,) = body["errors"]
        result: dict[str, Any] = error
        return result


# where a grant is: "project" (on project A), "study" (on study A), or "global"
SCOPES = ("project", "study")
ROLES = (Role.VIEWER, Role.RUNNER, Role.CONTRIBUTOR, Role.ADMIN)


class Tokens:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        graphql: GraphQLClient,
        world: World,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.graphql = graphql
        self.world = world

    def grant(self, role: Role, scope: str, side: str = "A") -> Grant:
        ids = self.world.side(side)
        if scope == "project":
            return Grant(role, project_id=row_id(ids["project"]))
        if scope == "study":
            return Grant(role, study_id=row_id(ids["study"]))
        assert scope == "global", scope
        return Grant(role)

    async def caller(self, role: Role, scope: str, side: str = "A") -> Caller:
        async with self.sessionmaker() as session:
            made = await create_token(
                session,
                name=f"{role.value.lower()}-{scope}",
                grants=[self.grant(role, scope, side)],
            )
            await session.commit()
        return Caller(self.graphql.http, made.secret, made.token.id)


@pytest.fixture
def tokens(
    sessionmaker: async_sessionmaker[AsyncSession], graphql: GraphQLClient, world: World
) -> Tokens:
    return Tokens(sessionmaker, graphql, world)


async def database_state(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, tuple[int, int]]:
    """Per table, in one statement: its row count and the sum of its rows' versions (the
    newest sequence for events), so an insert, update or delete anywhere shows."""
    parts = []
    for table in Base.metadata.sorted_tables:
        marker = table.c.get("version", table.c.get("sequence"))
        if marker is None:
            summary: Any = literal(0, BigInteger)
        elif marker.name == "sequence":
            summary = func.coalesce(func.max(marker), 0)
        else:
            summary = func.coalesce(func.sum(marker), 0).cast(BigInteger)
        parts.append(
            select(
                literal(table.name).label("name"), func.count().label("rows"), summary
            ).select_from(table)
        )
    async with sessionmaker() as session:
        rows = await session.execute(union_all(*parts))
        return {name: (count, marker) for name, count, marker in rows}


def allowed(role: Role, action: str) -> bool:
    return {
        "READ": True,
        "RUN": role is not Role.VIEWER,
        "WRITE": role in (Role.CONTRIBUTOR, Role.ADMIN),
        "ADMINISTER": role is Role.ADMIN,
    }[action]


ROLE_SCOPES = [
    pytest.param(role, scope, id=f"{role.value}@{scope}-A") for scope in SCOPES for role in ROLES
]


# --- reads -----------------------------------------------------------------------------------

# the rows of each scope, by their key in a side
SCOPE_ROWS = {
    "project": ("project", "job", "child", "file", "job_file", "job_metric"),
    "study": ("study", "participant", "recording", "run", "trajectory", "chunk", "run_metric"),
}
# each root list: the rows it holds, per scope, and whether it has an aggregate
ROOT_LISTS: dict[str, tuple[dict[str, tuple[str, ...]], bool]] = {
    "projects": ({"project": ("project",)}, False),
    "jobs": ({"project": ("job", "child")}, True),
    "files": ({"project": ("file",)}, False),
    "metrics": ({"project": ("job_metric",), "study": ("run_metric",)}, True),
    "studies": ({"study": ("study",)}, False),
    "participants": ({"study": ("participant",)}, False),
    "recordings": ({"study": ("recording",)}, True),
    "runs": ({"study": ("run",)}, True),
    "trajectories": ({"study": ("trajectory",)}, False),
    "chunks": ({"study": ("chunk",)}, True),
    "molecules": ({}, False),
    "calculations": ({}, True),
    "batches": ({}, False),
}


ROOT_LISTS_QUERY = (
    "{ "
    + " ".join(
        f"{name} {{ totalCount nodes {{ id }} {'aggregate { count }' if aggregate else ''} }}"
        for name, (_, aggregate) in ROOT_LISTS.items()
    )
    + " }"
)


def listed(data: dict[str, Any]) -> dict[str, list[str]]:
    """The sorted ids of each root list, checked against its totalCount and aggregate."""
    lists = {}
    for name, connection in data.items():
        ids = sorted(node["id"] for node in connection["nodes"])
        assert connection["totalCount"] == len(ids), (name, connection)
        if "aggregate" in connection:
            assert connection["aggregate"]["count"] == len(ids), (name, connection)
        lists[name] = ids
    return lists


GROUPS = """
{
  jobs { groups(by: [PROJECT]) { count key { project { id } } } }
  runs { groups(by: [STUDY]) { count key { study { id } } } }
  metrics { groups(by: [KEY]) { count key { key { name } } } }
  chemistryStatistics { molecules batches calculations succeeded }
  metricKeys { nodes { name } }
}"""


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_root_lists_counts_and_groups_show_only_the_rows_of_the_tokens_scope(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    expected = {
        name: sorted(world.a[key] for key in rows.get(scope, ()))
        for name, (rows, _) in ROOT_LISTS.items()
    }

    seen = listed(await caller.data(ROOT_LISTS_QUERY))
    groups = await caller.data(GROUPS)

    assert seen == expected
    # the chemistry store is the whole server's: none of it counts; the catalogue is everyone's
    assert groups.pop("chemistryStatistics") == {
        "molecules": 0,
        "batches": 0,
        "calculations": 0,
        "succeeded": 0,
    }
    assert sorted(key["name"] for key in groups.pop("metricKeys")["nodes"]) == ["keff", "rfactor"]
    assert {name: connection["groups"] for name, connection in groups.items()} == {
        "jobs": [{"count": 2, "key": {"project": {"id": world.a["project"]}}}]
        if scope == "project"
        else [],
        "runs": [{"count": 1, "key": {"study": {"id": world.a["study"]}}}]
        if scope == "study"
        else [],
        "metrics": [
            {"count": 1, "key": {"key": {"name": "rfactor" if scope == "project" else "keff"}}}
        ],
    }


async def test_a_global_viewer_lists_both_sides_and_the_molecule(
    tokens: Tokens, world: World
) -> None:
    caller = await tokens.caller(Role.VIEWER, "global")
    expected = {
        name: sorted(
            side[key] for keys in rows.values() for key in keys for side in (world.a, world.b)
        )
        for name, (rows, _) in ROOT_LISTS.items()
    }
    expected["molecules"] = [world.molecule]

    seen = listed(await caller.data(ROOT_LISTS_QUERY))

    assert seen == expected


EVENTS = """
query($where: EventWhere) {
  events(where: $where) {
    totalCount aggregate { count } nodes { sequence subjectType subjectId type }
  }
}"""


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_events_are_only_about_rows_of_the_tokens_scope(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    own = {world.a[key] for key in SCOPE_ROWS[scope]}
    expected = [event for event in world.events if event["subjectId"] in own]

    seen = (await caller.data(EVENTS))["events"]
    about_b = await caller.data(
        EVENTS, where={"subject": {"in": [world.b[key] for key in SCOPE_ROWS[scope]]}}
    )

    assert len(expected) >= 4
    assert len(world.events) > len(expected)
    assert seen["nodes"] == expected
    assert seen["totalCount"] == seen["aggregate"]["count"] == len(expected)
    assert about_b["events"]["totalCount"] == 0


PROJECT_TREE = """
id name
jobs {
  totalCount aggregate { count }
  nodes {
    id number
    children { totalCount nodes { id number parent { id } } }
    files { totalCount nodes { id role file { id path } } }
    metrics { totalCount nodes { id name value } }
    events { totalCount nodes { type subjectId } }
  }
}
allJobs { totalCount }
files { totalCount nodes { id path } }
"""
STUDY_TREE = """
id name
participants {
  totalCount
  nodes { id number recordings { totalCount nodes { id kind metrics { totalCount } } } }
}
runs {
  totalCount aggregate { count }
  nodes {
    id name
    trajectories { totalCount nodes { id chunks { totalCount nodes { id attempt } } } }
    chunks { totalCount nodes { id } }
    metrics { totalCount aggregate { count } nodes { id name value } }
    events { totalCount nodes { type subjectId } }
  }
}
"""
TREES = {
    "project": ("projects", "Project", PROJECT_TREE),
    "study": ("studies", "Study", STUDY_TREE),
}


async def tree(graphql: GraphQLClient, scope: str, root_id: str) -> dict[str, Any]:
    _, type_name, fields = TREES[scope]
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{ {fields} }} }} }}"
    result: dict[str, Any] = (await graphql.data(query, id=root_id))["node"]
    return result


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_nested_relations_show_the_whole_of_the_scope_and_nothing_else(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    root, _, fields = TREES[scope]
    as_admin = world.trees[scope]

    seen = (await caller.data(f"{{ {root} {{ nodes {{ {fields} }} }} }}"))[root]["nodes"]

    assert seen == [as_admin]
    # not vacuous: each level holds A's seeded rows
    if scope == "project":
        (job,) = as_admin["jobs"]["nodes"]
        assert job["id"] == world.a["job"]
        assert [c["id"] for c in job["children"]["nodes"]] == [world.a["child"]]
        assert [f["id"] for f in job["files"]["nodes"]] == [world.a["job_file"]]
        assert [m["id"] for m in job["metrics"]["nodes"]] == [world.a["job_metric"]]
        assert job["events"]["totalCount"] >= 2
    else:
        (participant,) = as_admin["participants"]["nodes"]
        assert [r["id"] for r in participant["recordings"]["nodes"]] == [world.a["recording"]]
        (run,) = as_admin["runs"]["nodes"]
        (trajectory,) = run["trajectories"]["nodes"]
        assert [c["id"] for c in trajectory["chunks"]["nodes"]] == [world.a["chunk"]]
        assert [m["id"] for m in run["metrics"]["nodes"]] == [world.a["run_metric"]]
        assert run["events"]["totalCount"] >= 2


NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


def type_of(global_id: str) -> str:
    return GlobalID.from_id(global_id).type_name


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_node_finds_each_own_row_and_no_other(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    keys = SCOPE_ROWS[scope]
    own = " ".join(f'{key}: node(id: "{world.a[key]}") {{ __typename id }}' for key in keys)

    found = await caller.data(f"{{ {own} }}")
    # one at a time: the first root field that fails ends the operation
    others = {key: await caller.refused(NODE, id=world.b[key]) for key in keys}

    assert found == {key: {"__typename": type_of(world.a[key]), "id": world.a[key]} for key in keys}
    # each of B's rows gets the answer a row that does not exist gets
    assert {key: error["extensions"] for key, error in others.items()} == {
        key: {"code": "NOT_FOUND"} for key in keys
    }
    assert {key: error["message"] for key, error in others.items()} == {
        key: f"No {type_of(world.b[key])} has this id (row {row_id(world.b[key])}); "
        "it may have been deleted."
        for key in keys
    }


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_nodes_finds_own_rows_and_refuses_a_list_with_an_other(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    own = [world.a[key] for key in SCOPE_ROWS[scope]]

    found = (await caller.data(NODES, ids=own))["nodes"]
    mixed = await caller.refused(NODES, ids=[*own, world.b[scope]])
    molecule = await caller.refused(NODES, ids=[world.molecule])

    assert [node["id"] for node in found] == own
    assert mixed["extensions"] == molecule["extensions"] == {"code": "NOT_FOUND"}


async def test_a_global_viewer_reads_the_chemistry_store(tokens: Tokens, world: World) -> None:
    caller = await tokens.caller(Role.VIEWER, "global")

    data = await caller.data(GROUPS)
    node = (await caller.data(NODE, id=world.molecule))["node"]

    assert data["chemistryStatistics"]["molecules"] == 1
    assert node == {"__typename": "Molecule", "id": world.molecule}


VIEWER = "{ viewer { name isAdmin grants { role projectId studyId } } }"


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_viewer_tells_the_token_its_grants(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)

    viewer = (await caller.data(VIEWER))["viewer"]

    assert viewer == {
        "name": f"{role.value.lower()}-{scope} (token {caller.token_id})",
        "isAdmin": False,
        "grants": [
            {
                "role": role.value,
                "projectId": world.a["project"] if scope == "project" else None,
                "studyId": world.a["study"] if scope == "study" else None,
            }
        ],
    }


# --- writes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """A mutation on one row of a side (passed as $id), and the action it needs."""

    name: str
    scope: str
    action: str
    key: str
    query: str


WRITES = [
    Write(
        "updateProject",
        "project",
        "WRITE",
        "project",
        'updateProject(input: {id: $id, description: "changed"}) { project { id } }',
    ),
    Write(
        "createJob",
        "project",
        "WRITE",
        "project",
        'createJob(input: {projectId: $id, taskName: "new"}) { job { id } }',
    ),
    Write(
        "importFile",
        "project",
        "WRITE",
        "project",
        'importFile(input: {projectId: $id, importedFrom: "disk", '
        'file: {path: "/new.mtz", checksum: "new"}}) { file { id } }',
    ),
    Write(
        "recordMetrics-job",
        "project",
        "RUN",
        "job",
        'recordMetrics(subjectId: $id, metrics: [{key: "rfactor", value: 0.5}]) { subject { id } }',
    ),
    Write(
        "appendEvent-job",
        "project",
        "RUN",
        "job",
        'appendEvent(input: {subjectId: $id, type: "note"}) { events { sequence } }',
    ),
    Write("deleteNode-job", "project", "ADMINISTER", "child", "deleteNode(id: $id) { deletedId }"),
    Write(
        "updateStudy",
        "study",
        "WRITE",
        "study",
        'updateStudy(input: {id: $id, description: "changed"}) { study { id } }',
    ),
    Write(
        "saveRecording",
        "study",
        "WRITE",
        "participant",
        "saveRecording(input: {participantId: $id, kind: AUDIO, maneuver: WALK, knee: RIGHT, "
        "passNumber: 1}) { recording { id } }",
    ),
    Write(
        "createRun",
        "study",
        "WRITE",
        "study",
        'createRun(input: {name: "run-new", studyId: $id}) { run { id } }',
    ),
    Write(
        "setRunStatus",
        "study",
        "RUN",
        "run",
        "setRunStatus(input: {id: $id, status: RUNNING}) { run { id } }",
    ),
    Write(
        "addChunkAttempt",
        "study",
        "RUN",
        "trajectory",
        "addChunkAttempt(input: {trajectoryId: $id, index: 1, frameCount: 3}) { chunk { id } }",
    ),
    Write(
        "addRunArtifacts",
        "study",
        "RUN",
        "run",
        'addRunArtifacts(input: {runId: $id, artifacts: [{role: "bundle", '
        'file: {path: "/bundle.tar"}}]}) { artifacts { id } }',
    ),
    Write("deleteNode-chunk", "study", "ADMINISTER", "chunk", "deleteNode(id: $id) { deletedId }"),
]


NODE_FIELDS = "query($id: ID!) { node(id: $id) { id %s } }"


async def node(caller: Caller, node_id: str, fields: str = "") -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await caller.data(NODE_FIELDS % fields, id=node_id))["node"]
    return found


async def _updated(caller: Caller, target: str, payload: Any, type_: str) -> None:
    read = await node(caller, target, f"... on {type_} {{ description }}")
    assert read == {"id": target, "description": "changed"}, read


async def _exists(caller: Caller, payload: Any, key: str, fields: str, expected: Any) -> None:
    made = payload[key]
    made = made[0] if isinstance(made, list) else made
    read = await node(caller, made["id"], fields)
    assert read is not None and {k: read[k] for k in expected} == expected, read


async def _has_metric(caller: Caller, target: str, payload: Any) -> None:
    read = await node(caller, target, "... on Job { metrics { nodes { name value } } }")
    assert read is not None
    assert {"name": "rfactor", "value": 0.5} in read["metrics"]["nodes"], read


async def _has_event(caller: Caller, target: str, payload: Any) -> None:
    read = await node(caller, target, "... on Job { events { nodes { sequence type } } }")
    assert read is not None
    (event,) = payload["events"]
    assert {"sequence": event["sequence"], "type": "note"} in read["events"]["nodes"], read


async def _gone(caller: Caller, target: str, payload: Any) -> None:
    assert payload["deletedId"] == target
    missing = await caller.refused(NODE_FIELDS % "", id=target)
    assert missing["extensions"]["code"] == "NOT_FOUND", missing


async def _running(caller: Caller, target: str, payload: Any) -> None:
    read = await node(caller, target, "... on Run { status }")
    assert read == {"id": target, "status": "RUNNING"}, read


# How each permitted write of WRITES is read back: (caller, the target's id, the payload)
READ_BACK: dict[str, Callable[[Caller, str, Any], Awaitable[None]]] = {
    "updateProject": lambda c, t, p: _updated(c, t, p, "Project"),
    "createJob": lambda c, t, p: _exists(
        c, p, "job", "... on Job { taskName }", {"taskName": "new"}
    ),
    "importFile": lambda c, t, p: _exists(
        c, p, "file", "... on File { path }", {"path": "/new.mtz"}
    ),
    "recordMetrics-job": _has_metric,
    "appendEvent-job": _has_event,
    "deleteNode-job": _gone,
    "updateStudy": lambda c, t, p: _updated(c, t, p, "Study"),
    "saveRecording": lambda c, t, p: _exists(
        c,
        p,
        "recording",
        "... on Recording { kind passNumber }",
        {"kind": "AUDIO", "passNumber": 1},
    ),
    "createRun": lambda c, t, p: _exists(
        c, p, "run", "... on Run { name status }", {"name": "run-new", "status": "PENDING"}
    ),
    "setRunStatus": _running,
    "addChunkAttempt": lambda c, t, p: _exists(
        c, p, "chunk", "... on Chunk { index frameCount }", {"index": 1, "frameCount": 3}
    ),
    "addRunArtifacts": lambda c, t, p: _exists(
        c, p, "artifacts", "... on RunArtifact { role }", {"role": "bundle"}
    ),
    "deleteNode-chunk": _gone,
}


def mutation(write: Write) -> str:
    return f"mutation($id: ID!) {{ {write.query} }}"


@pytest.mark.parametrize(
    ("write", "role"),
    [
        pytest.param(write, role, id=f"{write.name}-{role.value}@{write.scope}-A")
        for write in WRITES
        for role in ROLES
    ],
)
async def test_a_write_needs_its_role_on_own_rows_and_finds_no_other(
    sessionmaker: async_sessionmaker[AsyncSession],
    tokens: Tokens,
    world: World,
    write: Write,
    role: Role,
) -> None:
    caller = await tokens.caller(role, write.scope)
    may = allowed(role, write.action)
    before = await database_state(sessionmaker)

    # other (B): not found, whatever the role, and nothing written
    other = await caller.refused(mutation(write), id=world.b[write.key])

    assert other["extensions"] == {"code": "NOT_FOUND"}, other
    assert other["message"].startswith("No "), other
    if may:
        assert await database_state(sessionmaker) == before
        # own (A): done, and stored: read back through the API
        data = await caller.data(mutation(write), id=world.a[write.key])
        payload = data[write.query.split("(")[0]]
        assert payload is not None
        await READ_BACK[write.name](caller, world.a[write.key], payload)
        assert await database_state(sessionmaker) != before
        return
    # own (A): FORBIDDEN, naming the token; and neither call wrote anything
    own = await caller.refused(mutation(write), id=world.a[write.key])
    assert own["extensions"] == {"code": "FORBIDDEN", "action": write.action}, own
    assert (
        f"your token ({role.value.lower()}-{write.scope} (token {caller.token_id}))"
        in own["message"]
    )
    assert await database_state(sessionmaker) == before


CALLERS = {
    "ADMIN@project-A": (Role.ADMIN, "project"),
    "ADMIN@study-A": (Role.ADMIN, "study"),
    "VIEWER@global": (Role.VIEWER, "global"),
    "CONTRIBUTOR@global": (Role.CONTRIBUTOR, "global"),
}
CREATES = {
    "createProject": 'createProject(input: {name: "project-new"}) { project { id name } }',
    "createStudy": 'createStudy(input: {name: "study-new"}) { study { id name } }',
    "createMolecule": 'createMolecule(input: {smiles: "CCN"}) { molecule { id smiles } }',
}


@pytest.mark.parametrize("caller_name", CALLERS)
@pytest.mark.parametrize("create", CREATES)
async def test_creating_a_root_of_the_server_needs_a_global_grant(
    sessionmaker: async_sessionmaker[AsyncSession], tokens: Tokens, create: str, caller_name: str
) -> None:
    role, scope = CALLERS[caller_name]
    caller = await tokens.caller(role, scope)
    query = f"mutation {{ {CREATES[create]} }}"
    before = await database_state(sessionmaker)

    body = await caller.execute(query)

    if caller_name == "CONTRIBUTOR@global":
        assert "errors" not in body, body["errors"]
        made = next(iter(body["data"][create].values()))
        # stored: the new root reads back as it was made
        assert await node(caller, made["id"], "... on Node { id }") == {"id": made["id"]}
        assert await database_state(sessionmaker) != before
        return
    assert body["data"] is None, body
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN", "action": "WRITE"}, (
        f"{create} by {caller_name} must be FORBIDDEN (it needs a grant on the whole "
        f"server); the server answered {error}"
    )
    assert await database_state(sessionmaker) == before


# --- idempotency keys are per caller ------------------------------------------------------------

CREATE_JOB_ONCE = """
mutation($project: ID!, $key: String!) {
  createJob(input: {projectId: $project, taskName: "once", idempotencyKey: $key}) {
    replayed job { id number }
  }
}"""


async def test_one_idempotency_key_used_by_two_callers_gives_two_independent_results(
    tokens: Tokens, world: World
) -> None:
    """A key names a call of one caller: another caller's use of the same key is another
    call, neither replayed from nor refused by the first."""
    first = await tokens.caller(Role.CONTRIBUTOR, "project")
    second = await tokens.caller(Role.CONTRIBUTOR, "project")
    project = world.a["project"]

    made = [
        (await caller.data(CREATE_JOB_ONCE, project=project, key="shared-key"))["createJob"]
        for caller in (first, second)
    ]
    again = [
        (await caller.data(CREATE_JOB_ONCE, project=project, key="shared-key"))["createJob"]
        for caller in (first, second)
    ]

    assert [result["replayed"] for result in made] == [False, False]
    assert made[0]["job"]["id"] != made[1]["job"]["id"]
    # each caller's retry replays its own call
    assert [result["replayed"] for result in again] == [True, True]
    assert [result["job"] for result in again] == [result["job"] for result in made]


# --- claims ------------------------------------------------------------------------------------

CLAIM = """
mutation { claimRun(input: {worker: "w1", leaseSeconds: 60}) { lease { token run { id } } } }"""
RELEASE = """
mutation($lease: String!) {
  releaseRun(input: {lease: $lease, status: SUCCEEDED, metrics: [{key: "keff", value: 1.2}]}) {
    run { id status }
  }
}"""


@pytest.mark.parametrize(
    ("role", "scope", "claimed"),
    [
        pytest.param(Role.RUNNER, "study", "A", id="RUNNER@study-A"),
        pytest.param(Role.CONTRIBUTOR, "study", "A", id="CONTRIBUTOR@study-A"),
        pytest.param(Role.ADMIN, "study", "A", id="ADMIN@study-A"),
        pytest.param(Role.RUNNER, "global", "B", id="RUNNER@global"),
        pytest.param(Role.RUNNER, "project", None, id="RUNNER@project-A"),
        # no study where it may run runs: refused, and nothing is written
        pytest.param(Role.VIEWER, "study", None, id="VIEWER@study-A"),
    ],
)
async def test_claim_run_takes_the_oldest_run_the_token_may_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    graphql: GraphQLClient,
    tokens: Tokens,
    world: World,
    role: Role,
    scope: str,
    claimed: str | None,
) -> None:
    queue = await graphql.data(
        "{ runs(where: {status: {eq: PENDING}}, orderBy: [{field: CREATED_AT}]) { nodes { id } } }"
    )
    # B's run is the older queued one: a claim that ignored scopes would take it
    assert [run["id"] for run in queue["runs"]["nodes"]] == [world.b["run"], world.a["run"]]
    caller = await tokens.caller(role, scope)
    before = await database_state(sessionmaker)

    if claimed is None:
        [error] = (await caller.execute(CLAIM))["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN", "action": "RUN"}, error
        assert error["message"].startswith("You may not claim runs")
        assert await database_state(sessionmaker) == before
        return
    lease = (await caller.data(CLAIM))["claimRun"]["lease"]
    assert lease["run"]["id"] == world.side(claimed)["run"]
    released = (await caller.data(RELEASE, lease=lease["token"]))["releaseRun"]
    assert released["run"] == {"id": world.side(claimed)["run"], "status": "SUCCEEDED"}


# --- tokens made through the API ---------------------------------------------------------------

CREATE_TOKEN = """
mutation($grants: [GrantInput!]!) {
  createApiToken(input: {name: "made", grants: $grants}) {
    secret token { id name grants { role projectId studyId } }
  }
}"""
REVOKE_TOKEN = """
mutation($id: ID!) { revokeApiToken(input: {id: $id}) { token { id revokedAt } } }"""


def grant_input(role: str, scope: str, ids: Side) -> dict[str, str]:
    if scope == "global":
        return {"role": role}
    return {"role": role, f"{scope}Id": ids[scope]}


@pytest.mark.parametrize("scope", SCOPES)
async def test_an_admin_makes_a_viewer_token_on_its_scope_and_revokes_it(
    tokens: Tokens, world: World, scope: str
) -> None:
    admin = await tokens.caller(Role.ADMIN, scope)
    root = TREES[scope][0]

    made = (await admin.data(CREATE_TOKEN, grants=[grant_input("VIEWER", scope, world.a)]))[
        "createApiToken"
    ]
    viewer = Caller(admin.http, made["secret"], row_id(made["token"]["id"]))
    reads = await viewer.data(f"{{ viewer {{ grants {{ role }} }} {root} {{ nodes {{ id }} }} }}")
    revoked = (await admin.data(REVOKE_TOKEN, id=made["token"]["id"]))["revokeApiToken"]
    after = await viewer.post(VIEWER)

    assert made["token"]["grants"] == [
        {
            "role": "VIEWER",
            "projectId": world.a["project"] if scope == "project" else None,
            "studyId": world.a["study"] if scope == "study" else None,
        }
    ]
    assert reads == {
        "viewer": {"grants": [{"role": "VIEWER"}]},
        root: {"nodes": [{"id": world.a[scope]}]},
    }
    assert revoked["token"]["revokedAt"] is not None
    assert after.status_code == 401
    assert after.json()["errors"][0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "reason": "REVOKED",
    }


@pytest.mark.parametrize(
    ("role", "scope", "grant_scope", "grant_side", "code"),
    [
        pytest.param(Role.ADMIN, "project", "project", "B", "NOT_FOUND", id="ADMIN@project-A-on-B"),
        pytest.param(Role.ADMIN, "study", "study", "B", "NOT_FOUND", id="ADMIN@study-A-on-B"),
        pytest.param(
            Role.ADMIN, "project", "study", "A", "NOT_FOUND", id="ADMIN@project-A-on-study-A"
        ),
        pytest.param(
            Role.ADMIN, "project", "global", "A", "FORBIDDEN", id="ADMIN@project-A-global"
        ),
        pytest.param(Role.ADMIN, "study", "global", "A", "FORBIDDEN", id="ADMIN@study-A-global"),
        pytest.param(
            Role.CONTRIBUTOR,
            "project",
            "project",
            "A",
            "FORBIDDEN",
            id="CONTRIBUTOR@project-A-on-A",
        ),
        pytest.param(
            Role.CONTRIBUTOR, "study", "study", "A", "FORBIDDEN", id="CONTRIBUTOR@study-A-on-A"
        ),
    ],
)
async def test_tokens_are_made_only_by_admins_and_only_on_their_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
    tokens: Tokens,
    world: World,
    role: Role,
    scope: str,
    grant_scope: str,
    grant_side: str,
    code: str,
) -> None:
    caller = await tokens.caller(role, scope)
    grants = [grant_input("VIEWER", grant_scope, world.side(grant_side))]
    before = await database_state(sessionmaker)

    error = await caller.refused(CREATE_TOKEN, grants=grants)

    assert error["extensions"]["code"] in ("NOT_FOUND", "FORBIDDEN")
    expected = {"code": code} if code == "NOT_FOUND" else {"code": code, "action": "ADMINISTER"}
    assert error["extensions"] == expected, error
    assert await database_state(sessionmaker) == before


@pytest.mark.parametrize(
    ("grant_scope", "grant_side", "code"),
    [
        pytest.param("project", "B", "NOT_FOUND", id="token-on-project-B"),
        pytest.param("global", "A", "NOT_FOUND", id="global-token"),
    ],
)
async def test_an_admin_revokes_no_token_beyond_its_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
    tokens: Tokens,
    world: World,
    grant_scope: str,
    grant_side: str,
    code: str,
) -> None:
    admin = await tokens.caller(Role.ADMIN, "project")
    other = await tokens.caller(Role.VIEWER, grant_scope, grant_side)
    before = await database_state(sessionmaker)

    error = await admin.refused(REVOKE_TOKEN, id=str(GlobalID("ApiToken", str(other.token_id))))

    assert error["extensions"]["code"] == code, error
    assert await database_state(sessionmaker) == before
    assert (await other.post(VIEWER)).status_code == 200


# --- tokens that cannot be used ---------------------------------------------------------------

CHALLENGE = 'Bearer realm="scimeta", error="invalid_token"'


async def unusable(session: AsyncSession, tokens: Tokens, kind: str) -> str:
    """An Authorization header that names no usable token, of each kind."""
    if kind == "unknown":
        return "Bearer smt_" + "x" * 43
    if kind == "malformed-bearer":
        return "Bearer xyz"
    if kind == "malformed-basic":
        return "Basic abc"
    caller = await tokens.caller(Role.ADMIN, "global")
    assert (await caller.post(VIEWER)).status_code == 200
    if kind == "revoked":
        await revoke_token(session, caller.token_id)
    else:
        await session.execute(
            text(
                "UPDATE api_tokens SET created_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 day' WHERE id = :id"
            ),
            {"id": caller.token_id},
        )
    await session.commit()
    return f"Bearer {caller.secret}"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unknown", "UNKNOWN"),
        ("malformed-bearer", "MALFORMED"),
        ("malformed-basic", "MALFORMED"),
        ("revoked", "REVOKED"),
        ("expired", "EXPIRED"),
    ],
)
async def test_a_token_that_cannot_be_used_gets_401_with_its_reason(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    graphql: GraphQLClient,
    tokens: Tokens,
    kind: str,
    reason: str,
) -> None:
    header = await unusable(session, tokens, kind)
    before = await database_state(sessionmaker)

    response = await graphql.http.post(
        "/graphql",
        json={"query": f"mutation {{ {CREATES['createProject']} }}"},
        headers={"Authorization": header},
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    body = response.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    assert await database_state(sessionmaker) == before


# --- rows that belong to a scope through the rows that own them ------------------------------

# a file of a study's row (it has no project), saved by the local admin, and a read of it
STUDY_FILES = {
    "run-artifact": (
        'mutation($a: ID!) { addRunArtifacts(input: {runId: $a, artifacts: [{role: "bundle", '
        'file: {path: "/a/bundle.tar"}}]}) { artifacts { id } } }',
        "run",
        "{ runs { nodes { artifacts { nodes { file { path } } } } } }",
        "/a/bundle.tar",
    ),
    "recording": (
        "mutation($a: ID!) { saveRecording(input: {participantId: $a, kind: AUDIO, "
        'maneuver: WALK, knee: RIGHT, passNumber: 1, file: {path: "/a/right.pkl"}}) '
        "{ recording { id } } }",
        "participant",
        "{ recordings { nodes { file { path } } } }",
        "/a/right.pkl",
    ),
    "chunk": (
        "mutation($a: ID!) { addChunkAttempt(input: {trajectoryId: $a, index: 2, "
        'file: {path: "/a/chunk.xyz"}}) { chunk { id } } }',
        "trajectory",
        "{ chunks { nodes { file { path } } } }",
        "/a/chunk.xyz",
    ),
}


@pytest.mark.parametrize("row", STUDY_FILES)
async def test_a_study_reader_reads_the_files_of_the_studys_rows(
    graphql: GraphQLClient, tokens: Tokens, world: World, row: str
) -> None:
    save, key, read, path = STUDY_FILES[row]
    await graphql.data(save, a=world.a[key])
    caller = await tokens.caller(Role.VIEWER, "study")

    body = await caller.execute(read)

    assert "errors" not in body and path in str(body["data"]), (
        f"the file of a {row} of study A is hidden from a viewer of study A: {body}"
    )


SAVE_RECORDING_FILE = """
mutation($participant: ID!, $path: String!) {
  saveRecording(input: {participantId: $participant, kind: AUDIO, maneuver: WALK, knee: RIGHT,
                        passNumber: 1, file: {path: $path}}) {
    recording { id file { path } }
  }
}"""


async def test_a_study_contributor_saves_a_recording_with_its_file(
    tokens: Tokens, world: World
) -> None:
    caller = await tokens.caller(Role.CONTRIBUTOR, "study")

    bodies = [
        await caller.execute(SAVE_RECORDING_FILE, participant=world.a["participant"], path=path)
        for path in ("/a/first.pkl", "/a/second.pkl")
    ]

    assert [body.get("errors") for body in bodies] == [None, None], (
        "a contributor of study A cannot save a recording of it with its file: "
        f"{[body.get('errors') for body in bodies]}"
    )
    assert [b["data"]["saveRecording"]["recording"]["file"]["path"] for b in bodies] == [
        "/a/first.pkl",
        "/a/second.pkl",
    ]


# rows that belong to a project or study through their owner, and a change an admin of it
# (or a contributor, for an event) may make
OWNED_ROWS = [
    pytest.param(
        Role.ADMIN,
        "project",
        "job_metric",
        "deleteNode(id: $id) { deletedId }",
        id="delete-job-metric",
    ),
    pytest.param(
        Role.ADMIN,
        "study",
        "run_metric",
        "deleteNode(id: $id) { deletedId }",
        id="delete-run-metric",
    ),
    pytest.param(
        Role.CONTRIBUTOR,
        "project",
        "job_file",
        'appendEvent(input: {subjectId: $id, type: "checked"}) { events { sequence } }',
        id="event-on-job-file",
    ),
]


@pytest.mark.parametrize(("role", "scope", "key", "query"), OWNED_ROWS)
async def test_a_role_on_a_scope_reaches_the_rows_its_rows_own(
    tokens: Tokens, world: World, role: Role, scope: str, key: str, query: str
) -> None:
    caller = await tokens.caller(role, scope)

    body = await caller.execute(f"mutation($id: ID!) {{ {query} }}", id=world.a[key])

    assert "errors" not in body, (
        f"a {role.value} of {scope} A may not change its own "
        f"{type_of(world.a[key])} (the server takes it for the whole server's): {body['errors']}"
    )


async def test_events_about_a_visible_row_are_visible(
    graphql: GraphQLClient, tokens: Tokens, world: World
) -> None:
    stored = await graphql.data(
        'mutation($a: ID!) { storeAgentOutput(input: {runId: $a, agent: "auditor", '
        'kind: "summary", data: {}}) { agentOutput { id } } }',
        a=world.a["run"],
    )
    output = stored["storeAgentOutput"]["agentOutput"]["id"]
    caller = await tokens.caller(Role.VIEWER, "study")

    seen = await caller.data(
        "query($id: ID!) { node(id: $id) { id } "
        "events(where: {subject: {eq: $id}}) { nodes { type } } }",
        id=output,
    )

    assert seen["node"] == {"id": output}
    assert seen["events"]["nodes"] == [{"type": "created"}], (
        f"a viewer of study A sees its run's agent output but not the event that created it: {seen}"
    )


# --- whole-server rows, and names of rows out of sight ---------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
async def test_a_viewer_cannot_add_to_the_metric_catalogue(
    sessionmaker: async_sessionmaker[AsyncSession], tokens: Tokens, scope: str
) -> None:
    caller = await tokens.caller(Role.VIEWER, scope)
    before = await database_state(sessionmaker)

    body = await caller.execute(
        'mutation { defineMetricKey(name: "viewers-key") { metricKey { name } } }'
    )

    assert "errors" in body and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (
        f"a read-only token wrote a metric key to the server's catalogue: {body}"
    )
    assert await database_state(sessionmaker) == before


@pytest.mark.parametrize(
    ("scope", "create"),
    [
        pytest.param(
            "project",
            'createProject(input: {name: "project-B"}) { project { id } }',
            id="project-B",
        ),
        pytest.param(
            "study", 'createStudy(input: {name: "study-B"}) { study { id } }', id="study-B"
        ),
    ],
)
async def test_a_scoped_token_learns_nothing_from_the_names_of_rows_it_cannot_see(
    tokens: Tokens, scope: str, create: str
) -> None:
    caller = await tokens.caller(Role.ADMIN, scope)

    error = await caller.refused(f"mutation {{ {create} }}")

    assert error["extensions"] == {"code": "FORBIDDEN", "action": "WRITE"}, (
        "a token that may not create the row is told that B's name is taken, "
        f"so it learns that a row it cannot see exists: {error}"
    )


# a study B's spec: a study made from it is B's
SPEC_B = {"model": "pincell", "side": "B"}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.CONTRIBUTOR, Role.ADMIN], ids=str)
async def test_an_upsert_by_spec_learns_nothing_of_studies_out_of_sight(
    graphql: GraphQLClient, tokens: Tokens, role: Role
) -> None:
    """Whether a spec's study exists, or a name is taken, is not told to a caller who
    may not make the study: it is refused before either is compared."""
    upsert = """mutation($spec: JSON!, $name: String) {
      upsertStudyBySpec(input: {spec: $spec, name: $name}) { study { id } } }"""
    await graphql.data(upsert, spec=SPEC_B, name="made-from-spec-B")
    caller = await tokens.caller(role, "study")

    for variables in (
        {"spec": SPEC_B, "name": None},  # B's spec
        {"spec": {"new": True}, "name": "study-B"},  # a new spec under B's name
        {"spec": {"new": True}, "name": "free"},  # a new spec, a free name
    ):
        error = await caller.refused(upsert, **variables)
        assert error["extensions"] == {"code": "FORBIDDEN", "action": "WRITE"}, error
        assert "the whole server" in error["message"]


async def test_a_viewer_learns_nothing_from_run_names_out_of_sight(tokens: Tokens) -> None:
    caller = await tokens.caller(Role.VIEWER, "study")
    create = """mutation($study: ID!) {
      createRun(input: {name: "run-B", studyId: $study}) { run { id } } }"""

    error = await caller.refused(create, study=tokens.world.a["study"])

    assert error["extensions"] == {"code": "FORBIDDEN", "action": "WRITE"}, error


async def test_a_tokens_events_name_the_token_as_their_actor(tokens: Tokens, world: World) -> None:
    """A token writes events as itself: an actor it names is kept as reportedActor."""
    caller = await tokens.caller(Role.RUNNER, "study")
    append = """mutation($id: ID!) { appendEvent(input: {subjectId: $id, type: "note",
      actor: "local", payload: {text: "done"}}) { events { actor payload } } }"""

    [event] = (await caller.data(append, id=world.a["run"]))["appendEvent"]["events"]

    assert event["actor"] == f"runner-study (token {caller.token_id})"
    assert event["payload"] == {"text": "done", "reportedActor": "local"}
