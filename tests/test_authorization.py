"""The authorization matrix, derived from the ownership declarations: callers with a role
on project A, study A (or B, or everything) against every declared entity's rows and
every kind of write, on A's rows (own) and on B's (other).

What each caller should see, and where each row's changes need a role, is computed here
in Python from the rows the seed left and each entity's declaration
(`scimeta.models.ownership`): a row belongs to the project or study its columns name, to
the scope of the rows it hangs off, to the scopes of the rows referring to it, or (an
event) to its subject's. The cases are made per declared entity, so a new entity gets
its reads, nested reads and writes checked once the seed makes a row of it on each side.

Reads show a caller its scope's rows only, through the ORM, `node`, `nodes`, the root
lists, counts, groups and every nested field. A change to a row is allowed where the
role allows its action and a grant is on the row's scope; elsewhere it is FORBIDDEN if
the caller sees the row and NOT_FOUND if not, and a refusal writes nothing. Each kind of
mutation, tokens and claims are checked one at a time in `test_authorization_writes.py`,
on a world seeded alike.

The world (projects, studies and their rows, on sides A and B, and the chemistry store)
is seeded once for the module, through mutations of the local admin, into a database of
its own (tokens made in the shared one would put every later test's server in token
mode): this module overrides the `engine` fixture, so the conftest's `connection`,
`session` and `graphql` fixtures run each test in a rolled-back transaction on that
database. Tokens are made inside each test's transaction, after its app started (open:
header-less requests stay the local admin's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, Undefined, build_schema, get_named_type
from sqlalchemy import BigInteger, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from strawberry.relay import GlobalID

from scimeta.auth.identity import Identity
from scimeta.auth.policy import (
    ALLOWED,
    SERVER,
    Action,
    Forbidden,
    Scope,
    authorize_changes,
    bind,
    scopes_of,
)
from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Base, Role, ownership
from scimeta.models.ownership import Reach
from scimeta.resolvers.schema import schema as served_schema
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
mutation($project: ID!, $job: ID!, $participant: ID!, $run: ID!, $checksum: String!,
         $audio: String!, $log: String!) {
  createJob(input: {parentId: $job, taskName: "child"}) { job { id } }
  importFile(input: {projectId: $project, jobId: $job, importedFrom: "disk",
                     file: {path: "/in.mtz", checksum: $checksum}}) { file { id } }
  jobMetric: recordMetrics(subjectId: $job, metrics: [{key: "rfactor", value: 0.2}]) {
    subject { ... on Job { metrics { nodes { id } } files { nodes { id } } } }
  }
  saveRecording(input: {participantId: $participant, kind: AUDIO, maneuver: WALK,
                        knee: LEFT, passNumber: 1, file: {path: $audio},
                        channels: [{index: 0, microphonePosition: "IPM"}],
                        cycles: [{index: 0, startSeconds: 0.0, endSeconds: 1.0}]}) {
    recording { id }
  }
  biomechanics: saveRecording(input: {participantId: $participant, kind: BIOMECHANICS,
                                      maneuver: WALK, knee: LEFT, passNumber: 1}) {
    recording { id }
  }
  initializeTrajectory(input: {runId: $run, index: 0, targetLength: 10}) {
    trajectory { id }
  }
  runMetric: recordMetrics(subjectId: $run, metrics: [{key: "keff", value: 1.0}]) {
    subject { ... on Run { metrics { nodes { id } } } }
  }
  addRunArtifacts(input: {runId: $run, artifacts: [{role: "log", file: {path: $log}}]}) {
    artifacts { id }
  }
  storeAgentOutput(input: {runId: $run, agent: "seeder", kind: "summary", data: {}}) {
    agentOutput { id }
  }
}"""
SEED_GRANDCHILDREN = """
mutation($trajectory: ID!, $audio: ID!, $biomechanics: ID!, $chunk: String!,
         $synchronization: String!) {
  addChunkAttempt(input: {trajectoryId: $trajectory, index: 0, frameCount: 5,
                          file: {path: $chunk}}) {
    chunk { id }
  }
  saveSynchronization(input: {audioRecordingId: $audio, biomechanicsRecordingId: $biomechanics,
                              offsetSeconds: 0.5, file: {path: $synchronization}}) {
    synchronization { id }
  }
  recordingMetric: recordMetrics(subjectId: $audio, metrics: [{key: "snr", value: 3.0}]) {
    __typename
  }
}"""
SEED_CHUNK_METRIC = """
mutation($chunk: ID!) {
  recordMetrics(subjectId: $chunk, metrics: [{key: "frames", value: 5}]) { __typename }
}"""
SEED_MOLECULE = """
mutation { createMolecule(input: {smiles: "CCO", name: "ethanol"}) { molecule { id } } }"""
SEED_CHEMISTRY = """
mutation($molecule: ID!) {
  createCalculation(input: {moleculeId: $molecule, status: SUCCEEDED, energy: -1.5,
                            atomicProperties: [{atomIndex: 0, element: "C"}]}) {
    calculation { id }
  }
  createBatch(input: {name: "seeded", moleculeIds: [$molecule]}) { batch { id } }
}"""
SEED_CALCULATION_METRIC = """
mutation($calculation: ID!) {
  recordMetrics(subjectId: $calculation, metrics: [{key: "energy", value: -1.5}]) {
    __typename
  }
}"""


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
        audio=f"/{side}/audio.pkl",
        log=f"/{side}/run.log",
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
    grandchildren = await graphql.data(
        SEED_GRANDCHILDREN,
        trajectory=ids["trajectory"],
        audio=ids["recording"],
        biomechanics=children["biomechanics"]["recording"]["id"],
        chunk=f"/{side}/chunk-0.xyz",
        synchronization=f"/{side}/sync.csv",
    )
    ids["chunk"] = grandchildren["addChunkAttempt"]["chunk"]["id"]
    await graphql.data(SEED_CHUNK_METRIC, chunk=ids["chunk"])
    return ids


async def seed_chemistry(graphql: GraphQLClient) -> str:
    molecule: str = (await graphql.data(SEED_MOLECULE))["createMolecule"]["molecule"]["id"]
    made = await graphql.data(SEED_CHEMISTRY, molecule=molecule)
    calculation = made["createCalculation"]["calculation"]["id"]
    await graphql.data(SEED_CALCULATION_METRIC, calculation=calculation)
    return molecule


# --- what the declarations say of the seeded rows --------------------------------------------

DECLARED = list(ownership.declarations())
MODELS = {model.__name__: model for model in DECLARED}
# ("project", id) or ("study", id): where a row belongs, and where a grant is
Place = tuple[str, int]


def key_name(model: type[Base]) -> str:
    name: str = model.__mapper__.primary_key[0].key
    return name


def key_of(model: type[Base]) -> Any:
    """The mapped attribute of the entity's key: an ORM read, which the criteria join."""
    return getattr(model, key_name(model))


def column_name(column: ownership.Column) -> str:
    name: str = column.property.columns[0].key
    return name


def place_of(grant: Grant) -> Place | None:
    if grant.project_id is not None:
        return ("project", grant.project_id)
    if grant.study_id is not None:
        return ("study", grant.study_id)
    return None


def global_id(model: type[Base], key: int) -> str:
    return str(GlobalID(model.__name__, str(key)))


def parsed(node_id: str) -> tuple[type[Base], int]:
    found = GlobalID.from_id(node_id)
    return MODELS[found.type_name], int(found.node_id)


@dataclass
class Rows:
    """Every row of every declared entity as the seed left them (by entity, then key),
    and what their declarations make of them."""

    by_model: dict[type[Base], dict[int, dict[str, Any]]]
    _places: dict[tuple[type[Base], int], frozenset[Place]] = field(default_factory=dict)

    def of(self, model: type[Base]) -> dict[int, dict[str, Any]]:
        return self.by_model[model]

    def places(self, model: type[Base], key: int) -> frozenset[Place]:
        """The projects and studies a row belongs to, as its declaration says: its own
        column, the rows it hangs off, the rows referring to it, an event's subject."""
        if (model, key) not in self._places:
            self._places[(model, key)] = frozenset(self._found_places(model, key))
        return self._places[(model, key)]

    def _found_places(self, model: type[Base], key: int) -> set[Place]:
        row = self.by_model[model].get(key)
        owner = ownership.declaration_of(model).owner
        found: set[Place] = set()
        if row is None:
            return found
        for kind, column in (("project", owner.project), ("study", owner.study)):
            if column is not None and row[column_name(column)] is not None:
                found.add((kind, row[column_name(column)]))
        for column in owner.parents:
            parent = row[column_name(column)]
            if parent is not None:
                found |= self.places(ownership.target_of(model, column), parent)
        for column in owner.referrers:
            referrer = ownership.referred_by(column)
            for other, values in self.by_model[referrer].items():
                if values[column_name(column)] == key:
                    found |= self.places(referrer, other)
        if owner.subjects:
            subject = MODELS.get(row["subject_type"])
            if subject is not None:
                found |= self.places(subject, row["subject_id"])
        return found

    def sees(self, grants: Iterable[Grant], model: type[Base], key: int) -> bool:
        """Whether a caller with `grants` reads the row."""
        grants = list(grants)
        if any(place_of(grant) is None for grant in grants):
            return True
        owner = ownership.declaration_of(model).owner
        if not owner.scoped:
            # the catalogue is everyone's; tokens and keys get no condition (their own
            # code reads them, never a request's reads)
            return owner.reach is not Reach.SERVER
        return bool(self.places(model, key) & {place_of(grant) for grant in grants})

    def visible(self, grants: Iterable[Grant], model: type[Base]) -> list[int]:
        grants = list(grants)
        return sorted(key for key in self.of(model) if self.sees(grants, model, key))

    def scope(self, model: type[Base], key: int) -> Scope:
        """Where a change to the row needs a role: its own project or study column, else
        the first parent's that has one, else (a file) the study of the rows referring
        to it; the whole server for the server's entities and for rows that do not
        exist."""
        row = self.by_model[model].get(key)
        owner = ownership.declaration_of(model).owner
        if row is None or not owner.scoped or owner.subjects:
            return SERVER
        projects = [row[column_name(owner.project)]] if owner.project is not None else []
        studies = [row[column_name(owner.study)]] if owner.study is not None else []
        for column in owner.parents:
            parent = row[column_name(column)]
            if parent is not None:
                scope = self.scope(ownership.target_of(model, column), parent)
                projects.append(scope.project_id)
                studies.append(scope.study_id)
        for column in owner.referrers:
            referrer = ownership.referred_by(column)
            referring = {
                self.scope(referrer, other).study_id
                for other, values in self.by_model[referrer].items()
                if values[column_name(column)] == key
            }
            # the first row referring to it gives its study: the seed keeps them alike
            assert len(referring) <= 1, (model, key, referring)
            studies += referring
        return Scope(
            next((p for p in projects if p is not None), None),
            next((s for s in studies if s is not None), None),
        )

    def subjects(self) -> list[tuple[str, int]]:
        """Every row of every entity, as (type name, key), and one key of each that no row
        has."""
        return [(model.__name__, key) for model in DECLARED for key in [*self.of(model), 10**12]]


async def read_rows(engine: AsyncEngine) -> Rows:
    by_model: dict[type[Base], dict[int, dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for model in DECLARED:
            table = ownership.table_of(model)
            result = await connection.execute(select(table))
            by_model[model] = {row[key_name(model)]: dict(row) for row in result.mappings().all()}
    return Rows(by_model)


SEED_EVENTS = """
mutation($events: [EventInput!]!) { appendEvents(events: $events) { events { sequence } } }"""


async def seed_events(graphql: GraphQLClient, rows: Rows) -> None:
    """An event about every row of every entity, besides those the writes wrote (events
    about the rows of an entity declared without events are seen by callers who read
    everything only)."""
    events = [
        {"subjectId": global_id(model, key), "type": "seeded"}
        for model in DECLARED
        if by_node(model)
        for key in rows.of(model)
    ]
    await graphql.data(SEED_EVENTS, events=events)


# --- what the schema shows of each entity ----------------------------------------------------

SCHEMA = build_schema(served_schema.as_str())


def object_type(name: str) -> GraphQLObjectType | None:
    found = SCHEMA.get_type(name)
    return found if isinstance(found, GraphQLObjectType) else None


def listed_model(type_: Any) -> type[Base] | None:
    """The entity a connection type lists, None for other types."""
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType) or not {"nodes", "totalCount"} <= set(named.fields):
        return None
    return MODELS.get(get_named_type(named.fields["nodes"].type).name)


def by_node(model: type[Base]) -> bool:
    """Whether `node(id)` reads the entity's rows (an entity's type)."""
    found = object_type(model.__name__)
    return found is not None and any(i.name == "Entity" for i in found.interfaces)


def has_aggregate(type_: Any) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLObjectType) and "aggregate" in named.fields


QUERY = object_type("Query")
assert QUERY is not None
# each root list of an entity's rows, and whether it has an aggregate
ROOT_LISTS: dict[str, tuple[type[Base], bool]] = {
    name: (model, has_aggregate(query_field.type))
    for name, query_field in QUERY.fields.items()
    if (model := listed_model(query_field.type)) is not None
}


def nested_fields(model: type[Base]) -> dict[str, tuple[bool, type[Base]]]:
    """The fields of the entity's type that read other rows: name -> (a list, whose)."""
    found = object_type(model.__name__)
    assert found is not None
    fields = {}
    for name, type_field in found.fields.items():
        if any(
            isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
            for argument in type_field.args.values()
        ):
            continue
        many = listed_model(type_field.type)
        if many is not None:
            fields[name] = (True, many)
        elif (one := MODELS.get(get_named_type(type_field.type).name)) is not None:
            fields[name] = (False, one)
    return fields


NODE_MODELS = [model for model in DECLARED if by_node(model)]
# the entities whose rows a change's scope is looked up for (every one but the events)
CHANGED_MODELS = [
    model for model in NODE_MODELS if not ownership.declaration_of(model).owner.subjects
]


def by_name(models: Iterable[type[Base]]) -> list[Any]:
    return [pytest.param(model, id=model.__name__) for model in models]


# --- the world --------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    a: Side
    b: Side
    molecule: str
    # as the local admin sees them: every event, and A's project and study trees
    events: list[dict[str, Any]]
    trees: dict[str, dict[str, Any]]
    rows: Rows

    def side(self, name: str) -> Side:
        return self.a if name == "A" else self.b


async def seed_world(databases: DatabaseFactory) -> tuple[AsyncEngine, World]:
    """A database of its own, seeded (committed) through the local admin, and the world
    seeded in it; the caller disposes of the engine."""
    engine = await databases.migrated_engine()
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        graphql = GraphQLClient(http)
        b = await seed_side(graphql, "B")
        a = await seed_side(graphql, "A")
        molecule = await seed_chemistry(graphql)
        await seed_events(graphql, await read_rows(engine))
        events = (await graphql.data(EVENTS))["events"]["nodes"]
        trees = {scope: await tree(graphql, scope, a[scope]) for scope in TREES}
    rows = await read_rows(engine)
    return engine, World(a=a, b=b, molecule=molecule, events=events, trees=trees, rows=rows)


# the world seeded in each module's database (a module importing the fixtures below has
# a database and a world of its own)
WORLDS: dict[AsyncEngine, World] = {}


@pytest.fixture(scope="module")
async def engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    """The world, seeded once for the module in a database of its own; overrides the
    conftest's `engine`, so each test still runs in a rolled-back transaction."""
    engine, world = await seed_world(databases)
    WORLDS[engine] = world
    yield engine
    del WORLDS[engine]
    await engine.dispose()


@pytest.fixture
def world(engine: AsyncEngine) -> World:
    return WORLDS[engine]


def row_id(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


# --- callers ---------------------------------------------------------------------------------


@dataclass
class Caller:
    """Requests with a token's secret."""

    http: httpx.AsyncClient
    secret: str
    token_id: int
    grants: tuple[Grant, ...] = ()

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


def grant_on(world: World, role: Role, scope: str, side: str = "A") -> Grant:
    ids = world.side(side)
    if scope == "project":
        return Grant(role, project_id=row_id(ids["project"]))
    if scope == "study":
        return Grant(role, study_id=row_id(ids["study"]))
    assert scope == "global", scope
    return Grant(role)


def scope_of_row(world: World, node_id: str) -> str:
    """Where the grant for a change to the row is: "project" or "study" (of side A)."""
    scope = world.rows.scope(*parsed(node_id))
    assert scope != SERVER, node_id
    return "project" if scope.project_id is not None else "study"


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
        return grant_on(self.world, role, scope, side)

    async def caller(self, role: Role, scope: str, side: str = "A") -> Caller:
        grant = self.grant(role, scope, side)
        async with self.sessionmaker() as session:
            made = await create_token(session, name=f"{role.value.lower()}-{scope}", grants=[grant])
            await session.commit()
        return Caller(self.graphql.http, made.secret, made.token.id, (grant,))


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
# the callers reads are checked for: a role on A's project or study, or on everything
READERS = [*ROLE_SCOPES, pytest.param(Role.VIEWER, "global", id="VIEWER@global")]
# grants of identities made in Python (no token): a role on each side, on both, on all
GRANT_SETS: dict[str, Callable[[World, Role], tuple[Grant, ...]]] = {
    "project-A": lambda w, role: (grant_on(w, role, "project"),),
    "study-A": lambda w, role: (grant_on(w, role, "study"),),
    "project-B": lambda w, role: (grant_on(w, role, "project", "B"),),
    "study-B": lambda w, role: (grant_on(w, role, "study", "B"),),
    "project-A+study-B": lambda w, role: (
        grant_on(w, role, "project"),
        grant_on(w, role, "study", "B"),
    ),
    "global": lambda w, role: (grant_on(w, role, "global"),),
}


def identity(grants: tuple[Grant, ...]) -> Identity:
    return Identity(name="made here", token_id=1, grants=grants)


# --- the seed covers every entity -------------------------------------------------------------


# the entities a request reads (tokens and idempotency keys are made by the tests that
# use them, and read by their own code only)
READ_MODELS = [
    model
    for model, declaration in ownership.declarations().items()
    if declaration.owner.scoped or declaration.owner.reach is not Reach.INTERNAL
]


@pytest.mark.parametrize("model", by_name(READ_MODELS))
def test_the_seed_has_rows_of_each_entity_on_each_side(world: World, model: type[Base]) -> None:
    """Not vacuous: each scoped entity has rows in A's scope and in B's (and the server's
    entities have rows), so that the derived cases below check something. A new entity
    fails here until the seed makes a row of it on each side."""
    owner = ownership.declaration_of(model).owner
    rows = world.rows
    assert rows.of(model), f"the seed makes no {model.__name__}: add one to each side"
    if not owner.scoped:
        return
    for side in (world.a, world.b):
        mine = {("project", row_id(side["project"])), ("study", row_id(side["study"]))}
        assert any(rows.places(model, key) & mine for key in rows.of(model)), (
            f"the seed makes no {model.__name__} in the scope of {side['project']} or "
            f"{side['study']}"
        )


def test_events_are_about_every_entity_that_has_them_on_each_side(world: World) -> None:
    subjects = {
        (event["subjectType"], side_name)
        for event in world.events
        for side_name, side in (("A", world.a), ("B", world.b))
        if event["subjectId"] is not None
        and world.rows.places(*parsed(event["subjectId"]))
        & {("project", row_id(side["project"])), ("study", row_id(side["study"]))}
    }
    expected = {
        (model.__name__, side)
        for model, declaration in ownership.declarations().items()
        if declaration.owner.scoped and not declaration.owner.subjects and model in NODE_MODELS
        for side in ("A", "B")
    }
    assert expected <= subjects, expected - subjects


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("grants", GRANT_SETS)
@pytest.mark.parametrize("model", by_name(READ_MODELS))
async def test_the_orm_reads_the_rows_the_declaration_shows_the_caller(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, model: type[Base], grants: str
) -> None:
    """Every ORM read of a request's session keeps the caller's rows: exactly those the
    entity's declaration puts in the scope of one of its grants."""
    given = GRANT_SETS[grants](world, Role.VIEWER)
    key = key_of(model)
    async with sessionmaker() as session:
        bind(session, identity(given).access)
        seen = sorted(await session.scalars(select(key)))
        counted = await session.scalar(select(func.count()).select_from(model))

    assert seen == world.rows.visible(given, model)
    assert counted == len(seen)


NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


def type_of(global_id: str) -> str:
    return GlobalID.from_id(global_id).type_name


@pytest.mark.parametrize("scope", [*SCOPES, "global"])
@pytest.mark.parametrize("model", by_name(NODE_MODELS))
async def test_node_and_nodes_find_the_visible_rows_of_each_entity_and_no_other(
    tokens: Tokens, world: World, model: type[Base], scope: str
) -> None:
    caller = await tokens.caller(Role.VIEWER, scope)
    rows = world.rows
    ids = [global_id(model, key) for key in rows.of(model)]
    own = [global_id(model, key) for key in rows.visible(caller.grants, model)]
    hidden = [node_id for node_id in ids if node_id not in own]

    found = (
        await caller.data(
            "{ "
            + " ".join(f'n{i}: node(id: "{n}") {{ __typename id }}' for i, n in enumerate(own))
            + " }"
        )
        if own
        else {}
    )
    # one at a time: the first root field that fails ends the operation
    others = {node_id: await caller.refused(NODE, id=node_id) for node_id in hidden}

    assert found == {f"n{i}": {"__typename": model.__name__, "id": n} for i, n in enumerate(own)}
    # each hidden row gets the answer a row that does not exist gets
    assert {n: error["extensions"] for n, error in others.items()} == {
        n: {"code": "NOT_FOUND"} for n in hidden
    }
    assert {n: error["message"] for n, error in others.items()} == {
        n: f"No {model.__name__} has this id (row {row_id(n)}); it may have been deleted."
        for n in hidden
    }
    if own:
        listed = (await caller.data(NODES, ids=own))["nodes"]
        assert [node["id"] for node in listed] == own
    if hidden:
        # a list with a hidden row is refused as a whole, own rows or none
        mixed = await caller.refused(NODES, ids=[*own, hidden[0]])
        assert mixed["extensions"] == {"code": "NOT_FOUND"}
    if scope == "global":
        assert own and not hidden
    elif ownership.declaration_of(model).owner.scoped:
        # not vacuous: B's rows are not found (A's are, for the grant on their scope)
        assert hidden


def root_lists_query() -> str:
    return (
        "{ "
        + " ".join(
            f"{name}(first: 500) {{ totalCount nodes {{ id }} "
            f"{'aggregate { count }' if aggregate else ''} }}"
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


@pytest.mark.parametrize(("role", "scope"), READERS)
async def test_root_lists_and_counts_show_only_the_rows_of_the_callers_scope(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    expected = {
        name: sorted(global_id(model, key) for key in world.rows.visible(caller.grants, model))
        for name, (model, _) in ROOT_LISTS.items()
    }

    seen = listed(await caller.data(root_lists_query()))

    assert seen == expected
    # not vacuous: a scoped caller sees some of A's rows and misses B's
    for name, (model, _) in ROOT_LISTS.items():
        if scope != "global" and ownership.declaration_of(model).owner.scoped:
            assert len(seen[name]) < len(world.rows.of(model)), name
    assert any(
        seen[name]
        for name, (model, _) in ROOT_LISTS.items()
        if ownership.declaration_of(model).owner.scoped
    )


GROUPS = """
{
  jobs { groups(by: [PROJECT]) { count key { project { id } } } }
  runs { groups(by: [STUDY]) { count key { study { id } } } }
  metrics { groups(by: [KEY]) { count key { key { name } } } }
  chemistryStatistics { molecules batches calculations succeeded }
  metricKeys { nodes { name } }
}"""


def groups_of(
    world: World,
    grants: tuple[Grant, ...],
    model: type[Base],
    column: str,
    key: Callable[[Any], Any],
) -> list[dict[str, Any]]:
    counts = Counter(world.rows.of(model)[k][column] for k in world.rows.visible(grants, model))
    return sorted(
        ({"count": count, "key": key(value)} for value, count in counts.items()),
        key=repr,
    )


@pytest.mark.parametrize(("role", "scope"), READERS)
async def test_groups_and_statistics_count_only_the_rows_of_the_callers_scope(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    rows, grants = world.rows, caller.grants
    key_names = {key: values["name"] for key, values in rows.of(MODELS["MetricKey"]).items()}
    calculations = [
        rows.of(MODELS["Calculation"])[k] for k in rows.visible(grants, MODELS["Calculation"])
    ]

    groups = await caller.data(GROUPS)

    # the chemistry store is the whole server's: none of it counts but with a global
    # grant; the catalogue is everyone's
    assert groups.pop("chemistryStatistics") == {
        "molecules": len(rows.visible(grants, MODELS["Molecule"])),
        "batches": len(rows.visible(grants, MODELS["Batch"])),
        "calculations": len(calculations),
        "succeeded": sum(
            getattr(c["status"], "name", c["status"]) == "SUCCEEDED" for c in calculations
        ),
    }
    assert sorted(key["name"] for key in groups.pop("metricKeys")["nodes"]) == sorted(
        key_names.values()
    )
    seen = {name: sorted(connection["groups"], key=repr) for name, connection in groups.items()}
    assert seen == {
        "jobs": groups_of(
            world,
            grants,
            MODELS["Job"],
            "project_id",
            lambda p: {"project": {"id": global_id(MODELS["Project"], p)}},
        ),
        "runs": groups_of(
            world,
            grants,
            MODELS["Run"],
            "study_id",
            lambda s: {"study": {"id": global_id(MODELS["Study"], s)}},
        ),
        "metrics": groups_of(
            world, grants, MODELS["Metric"], "key_id", lambda k: {"key": {"name": key_names[k]}}
        ),
    }
    assert seen["metrics"], "not vacuous: the caller's metrics are grouped"


EVENTS = """
query($where: EventWhere) {
  events(where: $where, first: 500) {
    totalCount aggregate { count } nodes { id sequence subjectType subjectId type }
  }
}"""


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPES)
async def test_events_are_only_about_rows_of_the_tokens_scope(
    tokens: Tokens, world: World, role: Role, scope: str
) -> None:
    caller = await tokens.caller(role, scope)
    rows = world.rows
    expected = [event for event in world.events if rows.sees(caller.grants, *parsed(event["id"]))]
    # the rows the same role on B's project or study sees
    theirs = (grant_on(world, role, scope, "B"),)
    about_b = [
        global_id(model, key)
        for model in NODE_MODELS
        for key in rows.visible(theirs, model)
        if ownership.declaration_of(model).owner.scoped
    ]

    seen = (await caller.data(EVENTS))["events"]
    about_them = await caller.data(EVENTS, where={"subject": {"in": about_b}})

    assert len(expected) >= 4
    assert len(world.events) > len(expected)
    assert seen["nodes"] == expected
    assert seen["totalCount"] == seen["aggregate"]["count"] == len(expected)
    assert about_b and about_them["events"]["totalCount"] == 0


def nested_query(model: type[Base], node_ids: list[str]) -> str:
    fields = " ".join(
        f"{name} {{ totalCount nodes {{ id }} }}" if many else f"{name} {{ id }}"
        for name, (many, _) in nested_fields(model).items()
    )
    return (
        "{ "
        + " ".join(
            f'r{i}: node(id: "{node_id}") {{ ... on {model.__name__} {{ {fields} }} }}'
            for i, node_id in enumerate(node_ids)
        )
        + " }"
    )


def as_seen_by(world: World, grants: tuple[Grant, ...], value: Any, many: bool) -> Any:
    """The local admin's answer of a nested field, as a caller with `grants` must see it."""
    if not many:
        return value if value is None or world.rows.sees(grants, *parsed(value["id"])) else None
    assert value["totalCount"] == len(value["nodes"]), "a page short of the whole list"
    nodes = [node for node in value["nodes"] if world.rows.sees(grants, *parsed(node["id"]))]
    return {"totalCount": len(nodes), "nodes": nodes}


@pytest.mark.parametrize("model", by_name(NODE_MODELS))
async def test_every_nested_field_of_a_visible_row_shows_the_visible_rows_only(
    graphql: GraphQLClient, tokens: Tokens, world: World, model: type[Base]
) -> None:
    """Each field of an entity's type that reads other rows (lists, connections and
    to-one fields), from each row a caller sees: the rows the local admin gets, less
    those the caller may not see."""
    fields = nested_fields(model)
    nested = 0
    for scope in (*SCOPES, "global"):
        caller = await tokens.caller(Role.VIEWER, scope)
        own = [global_id(model, key) for key in world.rows.visible(caller.grants, model)]
        if not own or not fields:
            continue
        query = nested_query(model, own)

        everything = await graphql.data(query)
        seen = await caller.data(query)

        assert seen == {
            row: {
                name: as_seen_by(world, caller.grants, value, fields[name][0])
                for name, value in values.items()
            }
            for row, values in everything.items()
        }
        nested += sum(
            len(value["nodes"]) if fields[name][0] else value is not None
            for values in seen.values()
            for name, value in values.items()
            if value is not None
        )
    if fields and ownership.declaration_of(model).owner.scoped:
        assert nested, f"no row of {model.__name__} a caller sees has related rows"


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
        assert world.a["recording"] in [r["id"] for r in participant["recordings"]["nodes"]]
        (run,) = as_admin["runs"]["nodes"]
        (trajectory,) = run["trajectories"]["nodes"]
        assert [c["id"] for c in trajectory["chunks"]["nodes"]] == [world.a["chunk"]]
        assert [m["id"] for m in run["metrics"]["nodes"]] == [world.a["run_metric"]]
        assert run["events"]["totalCount"] >= 2


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


# --- where a change needs a role ------------------------------------------------------------


@pytest.mark.parametrize("model", by_name(DECLARED))
async def test_a_change_to_a_row_needs_a_role_where_its_declaration_puts_it(
    session: AsyncSession, world: World, model: type[Base]
) -> None:
    """The scope each row's changes are checked in: its project or study, that of the
    row it hangs off, or (a file) of the rows referring to it; the whole server for the
    server's entities, events and rows that do not exist."""
    subjects = [(name, key) for name, key in world.rows.subjects() if name == model.__name__]

    scopes = await scopes_of(session, subjects)

    assert scopes == {(name, key): world.rows.scope(model, key) for name, key in subjects}
    owner = ownership.declaration_of(model).owner
    if owner.scoped and not owner.subjects:
        # not vacuous: A's rows and B's are in scopes of their own
        assert len({scope for scope in scopes.values() if scope != SERVER}) >= 2


@pytest.mark.parametrize("grants", GRANT_SETS)
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
async def test_a_change_is_allowed_where_the_role_allows_the_action(
    session: AsyncSession, world: World, role: Role, action: Action, grants: str
) -> None:
    """For every row of every entity: the change is allowed exactly when the role allows
    the action (`ALLOWED`) and a grant is on the row's scope (or on everything); a
    refused change is FORBIDDEN, naming the action."""
    given = GRANT_SETS[grants](world, role)
    access = identity(given).access
    subjects = world.rows.subjects()
    scopes = await scopes_of(session, subjects)
    places = {place_of(grant) for grant in given}

    def expected(model: type[Base], key: int) -> bool:
        scope = world.rows.scope(model, key)
        if action not in ALLOWED[role]:
            return False
        return None in places or bool(
            places & {("project", scope.project_id), ("study", scope.study_id)}
        )

    wanted = {subject: expected(MODELS[subject[0]], subject[1]) for subject in subjects}
    assert {subject: access.may(action, scopes[subject]) for subject in subjects} == wanted
    assert allowed(role, action.name) is (action in ALLOWED[role])

    may = [subject for subject, allow in wanted.items() if allow]
    await authorize_changes(session, access, action, may)
    refused = [subject for subject, allow in wanted.items() if not allow]
    if refused:
        with pytest.raises(Forbidden) as raised:
            await authorize_changes(session, access, action, [*may, refused[0]])
        assert raised.value.extensions["action"] == action.name
    # not vacuous: a role that allows the action changes some rows, and none of B's
    # with a grant on A only
    assert bool(may) is (action in ALLOWED[role])
    assert bool(refused) is (grants != "global" or action not in ALLOWED[role])


APPEND_EVENT = """
mutation($id: ID!) { appendEvent(input: {subjectId: $id, type: "checked"}) {
  events { sequence subjectId } } }"""


@pytest.mark.parametrize("model", by_name(CHANGED_MODELS))
async def test_an_event_about_a_row_needs_a_role_that_runs_on_its_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
    tokens: Tokens,
    world: World,
    model: type[Base],
) -> None:
    """An event about each row of the entity, by a runner and a viewer of A's project
    and of A's study: written where the runner's grant is on the row's scope, FORBIDDEN
    where the caller sees the row but has no such role there (writing nothing), and
    NOT_FOUND where the caller does not see the row."""
    rows = world.rows
    callers = [
        await tokens.caller(role, scope) for role in (Role.RUNNER, Role.VIEWER) for scope in SCOPES
    ]
    outcomes: dict[str, list[tuple[Caller, str]]] = {"done": [], "FORBIDDEN": [], "NOT_FOUND": []}
    for caller in callers:
        (grant,) = caller.grants
        for key in rows.of(model):
            scope = rows.scope(model, key)
            if not rows.sees(caller.grants, model, key):
                outcome = "NOT_FOUND"
            elif allowed(grant.role, "RUN") and place_of(grant) in {
                ("project", scope.project_id),
                ("study", scope.study_id),
            }:
                outcome = "done"
            else:
                outcome = "FORBIDDEN"
            outcomes[outcome].append((caller, global_id(model, key)))
    before = await database_state(sessionmaker)

    for caller, subject in outcomes["NOT_FOUND"]:
        error = await caller.refused(APPEND_EVENT, id=subject)
        assert error["extensions"] == {"code": "NOT_FOUND"}, (subject, error)
    for caller, subject in outcomes["FORBIDDEN"]:
        error = await caller.refused(APPEND_EVENT, id=subject)
        assert error["extensions"] == {"code": "FORBIDDEN", "action": "RUN"}, (subject, error)
        assert f"(token {caller.token_id})" in error["message"]
    assert await database_state(sessionmaker) == before
    for caller, subject in outcomes["done"]:
        (event,) = (await caller.data(APPEND_EVENT, id=subject))["appendEvent"]["events"]
        assert event["subjectId"] == subject

    # not vacuous: a scoped entity's rows are written, refused and not found; the
    # server's are refused or not found
    if ownership.declaration_of(model).owner.scoped:
        assert outcomes["done"] and outcomes["FORBIDDEN"] and outcomes["NOT_FOUND"]
    else:
        assert not outcomes["done"] and (outcomes["FORBIDDEN"] or outcomes["NOT_FOUND"])
