"""The authorization matrix's writes, one mutation at a time: API tokens with a role on
project A or on study A make each kind of change to A's rows (own) and to B's (other).

Writes on its rows succeed, and read back, or are FORBIDDEN by its role; B's rows cannot
be found (NOT_FOUND) whatever the role; a refusal writes nothing. Roots of the server,
claims, tokens, idempotency keys and names of rows out of sight are checked alike, and
tokens that cannot be used get HTTP 401 with the reason. Which scope each row's changes
need a role in, for every entity, is derived from the declarations in
`tests/test_authorization.py`, whose seeded world (in a database of this module's own)
these cases use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.relay import GlobalID

from scimeta.auth.tokens import revoke_token
from scimeta.models import Role
from tests.conftest import GraphQLClient
from tests.test_authorization import (
    ROLES,
    SCOPES,
    TREES,
    VIEWER,
    Caller,
    Side,
    Tokens,
    World,
    allowed,
    database_state,
    engine,
    row_id,
    scope_of_row,
    tokens,
    type_of,
    world,
)

# the world's seed creates a molecule by SMILES
pytestmark = pytest.mark.chemistry

# the world's fixtures: a database of this module's own, seeded alike
__all__ = ["engine", "tokens", "world"]


@dataclass(frozen=True)
class Write:
    """A mutation on one row of a side (passed as $id), and the action it needs; the
    token's grant is on the project or the study that row's changes need a role on."""

    name: str
    action: str
    key: str
    query: str


WRITES = [
    Write(
        "updateProject",
        "WRITE",
        "project",
        'updateProject(input: {id: $id, description: "changed"}) { project { id } }',
    ),
    Write(
        "createJob",
        "WRITE",
        "project",
        'createJob(input: {projectId: $id, taskName: "new"}) { job { id } }',
    ),
    Write(
        "importFile",
        "WRITE",
        "project",
        'importFile(input: {projectId: $id, importedFrom: "disk", '
        'file: {path: "/new.mtz", checksum: "new"}}) { file { id } }',
    ),
    Write(
        "recordMetrics-job",
        "RUN",
        "job",
        'recordMetrics(subjectId: $id, metrics: [{key: "rfactor", value: 0.5}]) { subject { id } }',
    ),
    Write(
        "appendEvent-job",
        "RUN",
        "job",
        'appendEvent(input: {subjectId: $id, type: "note"}) { events { sequence } }',
    ),
    Write("deleteNode-job", "ADMINISTER", "child", "deleteNode(id: $id) { deletedId }"),
    Write(
        "updateStudy",
        "WRITE",
        "study",
        'updateStudy(input: {id: $id, description: "changed"}) { study { id } }',
    ),
    Write(
        "saveRecording",
        "WRITE",
        "participant",
        "saveRecording(input: {participantId: $id, kind: AUDIO, maneuver: WALK, knee: RIGHT, "
        "passNumber: 1}) { recording { id } }",
    ),
    Write(
        "createRun",
        "WRITE",
        "study",
        'createRun(input: {name: "run-new", studyId: $id}) { run { id } }',
    ),
    Write(
        "setRunStatus",
        "RUN",
        "run",
        "setRunStatus(input: {id: $id, status: RUNNING}) { run { id } }",
    ),
    Write(
        "addChunkAttempt",
        "RUN",
        "trajectory",
        "addChunkAttempt(input: {trajectoryId: $id, index: 1, frameCount: 3}) { chunk { id } }",
    ),
    Write(
        "addRunArtifacts",
        "RUN",
        "run",
        'addRunArtifacts(input: {runId: $id, artifacts: [{role: "bundle", '
        'file: {path: "/bundle.tar"}}]}) { artifacts { id } }',
    ),
    Write("deleteNode-chunk", "ADMINISTER", "chunk", "deleteNode(id: $id) { deletedId }"),
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
        pytest.param(write, role, id=f"{write.name}-{role.value}")
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
    scope = scope_of_row(world, world.a[write.key])
    caller = await tokens.caller(role, scope)
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
    assert f"your token ({role.value.lower()}-{scope} (token {caller.token_id}))" in own["message"]
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


# rows that belong to a project or study through their owner, and an admin of it deletes
OWNED_ROWS = [
    pytest.param("job_metric", id="delete-job-metric"),
    pytest.param("run_metric", id="delete-run-metric"),
]


@pytest.mark.parametrize("key", OWNED_ROWS)
async def test_a_role_on_a_scope_reaches_the_rows_its_rows_own(
    tokens: Tokens, world: World, key: str
) -> None:
    scope = scope_of_row(world, world.a[key])
    caller = await tokens.caller(Role.ADMIN, scope)

    body = await caller.execute(
        "mutation($id: ID!) { deleteNode(id: $id) { deletedId } }", id=world.a[key]
    )

    assert "errors" not in body, (
        f"an admin of {scope} A may not delete its own "
        f"{type_of(world.a[key])} (the server takes it for the whole server's): {body['errors']}"
    )
    assert body["data"]["deleteNode"]["deletedId"] == world.a[key]


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
