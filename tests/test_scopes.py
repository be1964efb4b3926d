"""Where each kind of row belongs (its project, its study, or the whole server), as the
write checks look it up, and what a study's contributor may write and see of files that
belong to no project."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.relay import GlobalID

from scimeta import models
from scimeta.auth.policy import SERVER, Scope, scopes_of
from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server.app import create_app
from tests.conftest import GraphQLClient, StatementCounter, read_statements, started
from tests.runs.test_runs import (
    ADD_ARTIFACTS,
    add_chunk,
    create_run,
    initialize_trajectory,
)
from tests.studies.test_studies import (
    AUDIO,
    SAVE_RECORDING,
    create_study,
    participant_of,
    save_recording,
)

RECORD_METRICS = """
mutation($id: ID!) { recordMetrics(subjectId: $id, metrics: [{key: "snr", value: 1.5}]) {
  __typename } }"""


def row(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


async def table_ids(session: AsyncSession, model: type[models.Base]) -> list[int]:
    key = model.__mapper__.primary_key[0]
    return list(await session.scalars(select(key).order_by(key)))


async def test_every_kind_of_row_is_looked_up_in_its_project_or_study(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    participant = await participant_of(graphql, "AOA")
    study = row((await graphql.data("{ studies { nodes { id } } }"))["studies"]["nodes"][0]["id"])
    recording = (await save_recording(graphql, participantId=participant, **AUDIO))["recording"]
    await graphql.data(RECORD_METRICS, id=recording["id"])
    run = await create_run(graphql, "run in AOA", studyId=GlobalID("Study", str(study)).__str__())
    trajectory = await initialize_trajectory(graphql, run["id"])
    chunk = await add_chunk(graphql, trajectory["id"], 0, file={"path": "/chunks/0.h5"})
    await graphql.data(RECORD_METRICS, id=chunk["id"])
    await graphql.data(
        ADD_ARTIFACTS,
        input={"runId": run["id"], "artifacts": [{"role": "log", "file": {"path": "/run.log"}}]},
    )
    project = (
        await graphql.data('mutation { createProject(input: {name: "P"}) { project { id } } }')
    )["createProject"]["project"]["id"]
    job = (
        await graphql.data(
            'mutation($p: ID!) { createJob(input: {projectId: $p, taskName: "t"}) { job { id } } }',
            p=project,
        )
    )["createJob"]["job"]["id"]
    await graphql.data(RECORD_METRICS, id=job["id"] if isinstance(job, dict) else job)
    loose = await create_run(graphql, "run of no study")

    subjects: list[tuple[str, int]] = []
    for model in (
        models.Study,
        models.Participant,
        models.Recording,
        models.RecordingChannel,
        models.Run,
        models.Trajectory,
        models.Chunk,
        models.RunArtifact,
        models.File,
        models.Metric,
        models.Project,
        models.Job,
    ):
        subjects += [(model.__name__, i) for i in await table_ids(session, model)]
    scopes = await scopes_of(session, [*subjects, ("Molecule", 1), ("Job", 10**9)])

    in_study, in_project = Scope(study_id=study), Scope(project_id=row(project))
    by_type: dict[str, set[Scope]] = {}
    for (type_name, row_id), scope in scopes.items():
        if (type_name, row_id) == ("Run", row(loose["id"])):
            assert scope == SERVER
            continue
        by_type.setdefault(type_name, set()).add(scope)
    assert by_type.pop("Molecule") == {SERVER}
    jobs = by_type.pop("Job")
    assert jobs == {in_project, SERVER}  # the job, and an id no row has
    assert by_type.pop("Project") == {in_project}
    assert by_type.pop("Metric") == {in_study, in_project}
    # the recording's file, the chunk's and the artifact's: no project, the study's
    assert by_type.pop("File") == {in_study}
    assert by_type == {name: {in_study} for name in by_type}
    assert set(by_type) == {
        "Study",
        "Participant",
        "Recording",
        "RecordingChannel",
        "Run",
        "Trajectory",
        "Chunk",
        "RunArtifact",
    }


async def test_a_study_contributor_saves_recordings_with_files_and_sees_them(
    graphql: GraphQLClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    participant = await participant_of(graphql, "AOA")
    other = await participant_of(graphql, "OTHER")
    await save_recording(graphql, participantId=other, **AUDIO)
    study = await create_study(graphql, "UNUSED")
    del study
    async with sessionmaker() as session:
        aoa = await session.scalar(select(models.Study.id).where(models.Study.name == "AOA"))
        made = await create_token(
            session, name="aoa", grants=[Grant(Role.CONTRIBUTOR, study_id=aoa)]
        )
        await session.commit()
    headers = {"Authorization": f"Bearer {made.secret}"}

    async def as_contributor(query: str, **variables: Any) -> Any:
        response = await graphql.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    saved = await as_contributor(SAVE_RECORDING, input={"participantId": participant, **AUDIO})
    recording = saved["saveRecording"]["recording"]
    assert recording["file"]["path"] == AUDIO["file"]["path"]
    files = await as_contributor("{ files { totalCount nodes { id path } } }")
    assert files["files"]["totalCount"] == 1
    assert files["files"]["nodes"][0]["id"] == recording["file"]["id"]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(models.File)) == 2


NESTED = """{ studies { totalCount nodes { name participants { nodes { number
  recordings { totalCount nodes { kind file { path } } } } } } } }"""


async def test_a_scoped_caller_reads_a_hierarchy_in_as_many_statements_as_the_open_server(
    graphql: GraphQLClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    statements: StatementCounter,
) -> None:
    """The caller's conditions join the statements the server runs anyway; a token it has
    checked costs none (the server remembers it while its listener runs)."""
    for study in ("AOA", "OTHER"):
        participant = await participant_of(graphql, study)
        await save_recording(graphql, participantId=participant, **AUDIO)
    async with sessionmaker() as session:
        aoa = await session.scalar(select(models.Study.id).where(models.Study.name == "AOA"))
        made = await create_token(session, name="aoa", grants=[Grant(Role.VIEWER, study_id=aoa)])
        await session.commit()
    app = await started(create_app(sessionmaker=sessionmaker))
    app.state.authenticator.listening = lambda: True
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {"Authorization": f"Bearer {made.secret}"}
        await client.post("/graphql", json={"query": NESTED}, headers=headers)
        statements.reset()
        scoped = (await client.post("/graphql", json={"query": NESTED}, headers=headers)).json()
        scoped_count = statements.count
    statements.reset()
    everything = await graphql.data(NESTED)

    # studies page, their count, participants, recordings, their counts, files
    assert statements.count == scoped_count == read_statements(6)
    assert everything["studies"]["totalCount"] == 2
    assert scoped["data"]["studies"]["totalCount"] == 1
    [study] = scoped["data"]["studies"]["nodes"]
    assert study["name"] == "AOA"
    [participant] = study["participants"]["nodes"]
    assert participant["recordings"]["nodes"] == [
        {"kind": "AUDIO", "file": {"path": AUDIO["file"]["path"]}}
    ]
