"""Bad input to project, job, file and shared mutations: a clear error with a code, and
nothing written."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import GraphQLClient
from tests.jobs.test_jobs import CREATE_JOB, SET_STATUS, create_job, create_project
from tests.support.snapshots import assert_refused

IMPORT = """
mutation($input: ImportFileInput!) { importFile(input: $input) { file { id } } }"""
GLEAN = """
mutation($input: GleanJobOutputsInput!) { gleanJobOutputs(input: $input) { job { id } } }"""
APPEND = """
mutation($events: [EventInput!]!) { appendEvents(events: $events) { events { sequence } } }"""
METRICS = """
mutation($id: ID!, $metrics: [MetricInput!]!) {
  recordMetrics(subjectId: $id, metrics: $metrics) { subject { id } }
}"""
DELETE = "mutation($id: ID!) { deleteNode(id: $id) { deletedId } }"
CHECKSUM = "a" * 64


async def _job(graphql: GraphQLClient, status: str | None = None) -> dict[str, Any]:
    project = await create_project(graphql)
    job = await create_job(graphql, projectId=project["id"])
    if status is not None:
        await graphql.data(SET_STATUS, id=job["id"], status=status)
    return {**job, "projectId": project["id"]}


def _file(path: str = "/data/in.mtz", **extra: Any) -> dict[str, Any]:
    return {"path": path, "checksum": CHECKSUM, **extra}


async def test_duplicate_project_name(graphql: GraphQLClient, session: AsyncSession) -> None:
    project = await create_project(graphql, "taken")
    error = await assert_refused(
        graphql,
        session,
        'mutation { createProject(input: {name: "taken"}) { project { id } } }',
        code="CONFLICT",
        reason="ALREADY_EXISTS",
        says=f"A project named 'taken' already exists ({project['id']})",
    )
    assert error["extensions"]["existingId"] == project["id"]


async def test_unknown_project(graphql: GraphQLClient, session: AsyncSession) -> None:
    await assert_refused(
        graphql,
        session,
        CREATE_JOB,
        code="NOT_FOUND",
        says="No Project has the id",
        input={"projectId": "UHJvamVjdDo5OTk5OTk5", "taskName": "t"},
    )


async def test_parent_id_of_the_wrong_type(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        CREATE_JOB,
        code="BAD_USER_INPUT",
        says="parentId must be the id of a Job, not of a Project",
        input={"parentId": job["projectId"], "taskName": "t"},
    )


async def test_job_without_project_or_parent(graphql: GraphQLClient, session: AsyncSession) -> None:
    await assert_refused(
        graphql,
        session,
        CREATE_JOB,
        code="BAD_USER_INPUT",
        says="needs a projectId or a parentId",
        input={"taskName": "t"},
    )


async def test_attributes_that_are_not_an_object(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        CREATE_JOB,
        code="BAD_USER_INPUT",
        says="attributes must be a JSON object",
        input={"projectId": job["projectId"], "taskName": "t", "attributes": "{bad json"},
    )


async def test_a_wrongly_typed_variable(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        CREATE_JOB,
        code="BAD_USER_INPUT",
        says="String cannot represent a non string value",
        input={"projectId": job["projectId"], "taskName": 12},
    )


async def test_illegal_transition(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql, "RUNNING")
    await graphql.data(SET_STATUS, id=job["id"], status="SUCCEEDED")
    await assert_refused(
        graphql,
        session,
        SET_STATUS,
        code="CONFLICT",
        reason="ILLEGAL_TRANSITION",
        says="is SUCCEEDED and cannot become RUNNING",
        id=job["id"],
        status="RUNNING",
    )


async def test_pending_cannot_succeed_without_running(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        SET_STATUS,
        code="CONFLICT",
        reason="ILLEGAL_TRANSITION",
        says="it can become CANCELLED, FAILED, RUNNING",
        id=job["id"],
        status="SUCCEEDED",
    )


async def test_unknown_status_value(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        SET_STATUS,
        code="BAD_USER_INPUT",
        says="FINISHED",
        id=job["id"],
        status="FINISHED",
    )


async def test_same_content_imported_twice(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    first = await graphql.data(
        IMPORT, input={"projectId": job["projectId"], "importedFrom": "/a", "file": _file()}
    )
    error = await assert_refused(
        graphql,
        session,
        IMPORT,
        code="CONFLICT",
        reason="ALREADY_EXISTS",
        says="was already imported into the project",
        input={"projectId": job["projectId"], "importedFrom": "/b", "file": _file("/c.mtz")},
    )
    assert error["extensions"]["existingId"] == first["importFile"]["file"]["id"]


async def test_import_without_checksum(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        IMPORT,
        code="BAD_USER_INPUT",
        says="needs its checksum",
        input={"projectId": job["projectId"], "importedFrom": "/a", "file": {"path": "/x"}},
    )


async def test_negative_file_size(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        IMPORT,
        code="BAD_USER_INPUT",
        says="sizeBytes cannot be negative",
        input={
            "projectId": job["projectId"],
            "importedFrom": "/a",
            "file": _file(sizeBytes=-1),
        },
    )


async def test_file_size_beyond_64_bits(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        IMPORT,
        code="BAD_USER_INPUT",
        says="outside 64 bits",
        input={
            "projectId": job["projectId"],
            "importedFrom": "/a",
            "file": _file(sizeBytes=2**64),
        },
    )


async def test_glean_a_job_that_never_ran(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        GLEAN,
        code="CONFLICT",
        reason="ILLEGAL_TRANSITION",
        says="only a job that ran has outputs",
        input={"jobId": job["id"], "files": [{"file": {"path": "/out.mtz"}}]},
    )


async def test_glean_with_a_bad_metric_writes_no_file(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    job = await _job(graphql, "RUNNING")
    await assert_refused(
        graphql,
        session,
        GLEAN,
        code="BAD_USER_INPUT",
        says="(Rfactor) needs a value or a text",
        input={
            "jobId": job["id"],
            "files": [{"file": {"path": "/out.mtz"}}],
            "metrics": [{"key": "Rfactor"}],
        },
    )


async def test_oversized_output_list(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql, "RUNNING")
    files = [{"file": {"path": f"/out/{n}"}} for n in range(10_001)]
    await assert_refused(
        graphql,
        session,
        GLEAN,
        code="BAD_USER_INPUT",
        says="files has 10001 entries; one call takes at most 10000",
        input={"jobId": job["id"], "files": files},
    )


async def test_metrics_on_a_project(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        METRICS,
        code="BAD_USER_INPUT",
        says="Metrics belong to a Job, Run, Chunk, Recording or Calculation, not a Project",
        id=job["projectId"],
        metrics=[{"key": "k", "value": 1}],
    )


async def test_event_about_a_missing_node(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        APPEND,
        code="NOT_FOUND",
        says="an event must be about an existing node",
        events=[
            {"subjectId": job["id"], "type": "ok"},
            {"subjectId": "Sm9iOjk5OTk5OTk=", "type": "lost"},
        ],
    )


async def test_event_payload_that_is_not_an_object(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        APPEND,
        code="BAD_USER_INPUT",
        says="events[0].payload must be a JSON object",
        events=[{"subjectId": job["id"], "type": "x", "payload": [1, 2]}],
    )


async def test_too_many_events(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    await assert_refused(
        graphql,
        session,
        APPEND,
        code="BAD_USER_INPUT",
        says="at most 1000",
        events=[{"subjectId": job["id"], "type": "x"}] * 1001,
    )


async def test_delete_a_project_with_jobs(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    error = await assert_refused(
        graphql,
        session,
        DELETE,
        code="CONFLICT",
        reason="HAS_DEPENDENTS",
        says="still has 1 jobs",
        id=job["projectId"],
    )
    assert error["extensions"]["dependents"] == ["1 jobs"]


async def test_delete_an_event(graphql: GraphQLClient, session: AsyncSession) -> None:
    job = await _job(graphql)
    events = await graphql.data(
        "query($id: ID!) { events(where: {subject: {eq: $id}}) { nodes { id } } }", id=job["id"]
    )
    await assert_refused(
        graphql,
        session,
        DELETE,
        code="BAD_USER_INPUT",
        says="Events are append-only",
        id=events["events"]["nodes"][0]["id"],
    )


async def test_an_id_that_is_no_global_id(graphql: GraphQLClient, session: AsyncSession) -> None:
    await assert_refused(graphql, session, DELETE, code="BAD_USER_INPUT", says="", id="not-an-id")
