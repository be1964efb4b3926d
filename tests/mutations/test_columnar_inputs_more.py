"""Chunk attempts, events, output files, run artifacts and molecules as columns against
the same lists as objects.

As in `test_columnar_inputs`, the list of objects is the reference: each bulk mutation
runs both ways on the same rows, fixed and generated, and must store the same rows and
events, or refuse with the same code, message and `field`, naming the value as the
client sent it (`chunks[3].file.sizeBytes`, `chunkColumns.file.sizeBytes[3]`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models
from tests.conftest import GraphQLClient
from tests.jobs.test_jobs import SET_STATUS, create_job, create_project
from tests.mutations.test_columnar_inputs import (
    COLUMNS,
    ROWS,
    VALUES,
    columns_of,
    row_id,
    stored_events,
)
from tests.runs.test_runs import create_run, initialize_trajectory
from tests.support.snapshots import assert_refused, database_state
from tests.test_fuzz import fuzz_settings

FORMS = (ROWS, COLUMNS)
FILE_FIELDS = (
    "path",
    "name",
    "mimetype",
    "sizeBytes",
    "checksum",
    "checksumAlgorithm",
    "modifiedAt",
    "annotation",
    "contentFlag",
    "subType",
)
# The list of objects each columnar input stands for.
LISTS = {
    "chunkColumns": "chunks",
    "eventColumns": "events",
    "fileColumns": "files",
    "artifactColumns": "artifacts",
    "moleculeColumns": "molecules",
}


def as_rows(text: str) -> str:
    """A columnar error message or field with its names as the list of objects has them:
    `chunkColumns.file.path[3]` as `chunks[3].file.path`."""
    for columns, rows in LISTS.items():
        text = re.sub(rf"{columns}\.([\w.]+)\[(\d+)\]", rf"{rows}[\2].\1", text)
        text = re.sub(rf"row (\d+) of {columns}", rf"{rows}[\1]", text)
    return text


def file_columns(files: list[dict[str, Any] | None]) -> dict[str, list[Any]]:
    """Files as FileColumnsInput; a row without a file has null in every column."""
    present = [name for name in FILE_FIELDS if any(file and name in file for file in files)]
    return {
        name: [file.get(name) if file else None for file in files]
        for name in dict.fromkeys(["path", *present])
    }


def columnar(rows: list[dict[str, Any]], fields: tuple[str, ...], first: str) -> dict[str, Any]:
    """Rows as columns, a nested `file` as FileColumnsInput; `first` is always there."""
    columns: dict[str, Any] = {first: [], **columns_of(rows, fields)}
    if any("file" in row for row in rows):
        columns["file"] = file_columns([row.get("file") for row in rows])
    return columns


def same_refusal(bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Both ways refused alike: the same code, and the same message and field once the
    columnar names are written as the list's. The columnar error."""
    assert "errors" in bodies[ROWS] and "errors" in bodies[COLUMNS], bodies
    reference = bodies[ROWS]["errors"][0]
    error: dict[str, Any] = bodies[COLUMNS]["errors"][0]
    assert error["extensions"]["code"] == reference["extensions"]["code"], bodies
    assert as_rows(error["message"]) == reference["message"], bodies
    if "field" in reference["extensions"]:
        assert as_rows(error["extensions"]["field"]) == reference["extensions"]["field"]
    return error


async def stored(session: AsyncSession, statement: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await session.execute(statement)]


FILE_COLUMNS = (
    models.File.path,
    models.File.name,
    models.File.mimetype,
    models.File.size_bytes,
    models.File.checksum,
    models.File.checksum_algorithm,
    models.File.modified_at,
    models.File.annotation,
    models.File.content_flag,
    models.File.sub_type,
    models.File.project_id.is_(None),
)


def files_with(position: int, rows: int = 4, **changes: Any) -> list[dict[str, Any]]:
    """Files of every kind, file `position` changed."""
    files: list[dict[str, Any]] = [
        {"path": f"/data/out/{n}.h5", "sizeBytes": 10 * n, "checksum": f"{n:064x}"}
        for n in range(rows)
    ]
    files[position] = {**files[position], **changes}
    return files


# Mostly files a file can be: now and then an empty path or a negative size.
FILES = st.fixed_dictionaries(
    {"path": st.sampled_from(["/d/a.xyz", "/d/b/", "s3://bucket/c.parquet", "x"] * 2 + [""])},
    optional={
        "name": st.none() | st.just("given.name"),
        "mimetype": st.none() | st.just("application/x-hdf5"),
        "sizeBytes": st.none() | st.integers(-1, 10**12),
        "checksum": st.none() | st.sampled_from(["ab" * 32, "cd" * 32]),
        "checksumAlgorithm": st.none() | st.just("md5"),
        "modifiedAt": st.none() | st.just("2024-05-06T07:08:09+00:00"),
        "annotation": st.none() | st.just("frames 0-99"),
        "contentFlag": st.none() | st.integers(0, 3),
        "subType": st.none() | st.integers(0, 3),
    },
)


# Chunk attempts.

ADD_CHUNK_ATTEMPTS = """
mutation($input: AddChunkAttemptsInput!) {
  addChunkAttempts(input: $input) { chunks { id index attempt } }
}"""
CHUNK_FIELDS = ("index", "modelVersion", "frameCount", "auditStatus")


def chunk_input(form: str, chunks: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"chunks": chunks}
    return {"chunkColumns": columnar(chunks, CHUNK_FIELDS, "index")}


async def trajectory(graphql: GraphQLClient) -> str:
    run = await create_run(graphql, f"run-{uuid.uuid4().hex[:12]}")
    node: str = (await initialize_trajectory(graphql, run["id"]))["id"]
    return node


async def stored_chunks(session: AsyncSession, trajectory: str) -> list[tuple[Any, ...]]:
    """The trajectory's attempts in the order made, with their files and the payload of
    their created events, less the ids that differ between trajectories."""
    chunk = models.Chunk
    rows = await stored(
        session,
        select(
            chunk.id,
            chunk.index,
            chunk.attempt,
            chunk.model_version,
            chunk.frame_count,
            chunk.audit_status,
            *FILE_COLUMNS,
        )
        .outerjoin(models.File, models.File.id == chunk.file_id)
        .where(chunk.trajectory_id == row_id(trajectory))
        .order_by(chunk.id),
    )
    payloads = {
        subject: {
            key: value
            for key, value in payload.items()
            if key not in {"id", "run_id", "trajectory_id", "file_id"}
        }
        for subject, payload in await session.execute(
            select(models.Event.subject_id, models.Event.payload).where(
                models.Event.subject_type == "Chunk",
                models.Event.type == "created",
                models.Event.subject_id.in_([row[0] for row in rows]),
            )
        )
    }
    return [(*row[1:], payloads[row[0]]) for row in rows]


def sample_chunks(count: int) -> list[dict[str, Any]]:
    """Attempts with every kind of value, some at one index, some with files."""
    chunks: list[dict[str, Any]] = []
    for n in range(count):
        chunk: dict[str, Any] = {"index": n % 7}
        if n % 2:
            chunk["modelVersion"] = None if n % 4 == 1 else f"mace-{n % 3}"
        if n % 3:
            chunk["frameCount"] = None if n % 3 == 1 else 100 + n
        if n % 5 == 0:
            chunk["auditStatus"] = ("PENDING", "PASSED", "FAILED")[n % 3]
        if n % 4:
            chunk["file"] = {"path": f"/frames/{n}.xyz", "sizeBytes": n * 1000}
            if n % 8 == 3:
                chunk["file"] |= {"checksum": f"{n:064x}", "annotation": "frames"}
        chunks.append(chunk)
    return chunks


async def test_add_chunk_attempts_stores_the_same_attempts_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    """Two calls each way: the second numbers its attempts after the first's."""
    made = {form: await trajectory(graphql) for form in FORMS}
    for chunks in (sample_chunks(40), sample_chunks(15)):
        for form in FORMS:
            body = await graphql.execute(
                ADD_CHUNK_ATTEMPTS, input={"trajectoryId": made[form], **chunk_input(form, chunks)}
            )
            assert "errors" not in body, body
            returned = body["data"]["addChunkAttempts"]["chunks"]
            assert [chunk["index"] for chunk in returned] == [c["index"] for c in chunks]
    reference = await stored_chunks(session, made[ROWS])
    assert len(reference) == 55
    # index 0 was given 6 times in the first call and 3 in the second
    assert [row[1] for row in reference if row[0] == 0] == list(range(1, 10))
    assert sum(row[5] is not None for row in reference) == 41
    assert reference[3][-1]["file_path"] == "/frames/3.xyz"
    assert await stored_chunks(session, made[COLUMNS]) == reference


@pytest.mark.parametrize(
    ("changes", "column", "says"),
    [
        ({"index": -1}, "index", "must be 0 or more, not -1"),
        ({"frameCount": -5}, "frameCount", "must be 0 or more, not -5"),
        ({"modelVersion": ""}, "modelVersion", "must not be empty"),
        ({"modelVersion": "v" * 256}, "modelVersion", "at most 255 fit"),
        ({"file": {"path": ""}}, "file.path", "is empty; a file needs a path"),
        ({"file": {"path": "/f", "sizeBytes": -1}}, "file.sizeBytes", "cannot be negative"),
    ],
)
async def test_a_bad_attempt_is_refused_alike_both_ways(
    graphql: GraphQLClient, session: AsyncSession, changes: dict[str, Any], column: str, says: str
) -> None:
    chunks: list[dict[str, Any]] = [{"index": n, "file": {"path": f"/f/{n}"}} for n in range(5)]
    chunks[3] = {**chunks[3], **changes}
    input = {"trajectoryId": await trajectory(graphql)}
    bodies = {}
    for form in FORMS:
        before = await database_state(session)
        bodies[form] = await graphql.execute(
            ADD_CHUNK_ATTEMPTS, input={**input, **chunk_input(form, chunks)}
        )
        assert await database_state(session) == before
    error = same_refusal(bodies)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == f"chunkColumns.{column}[3]"
    assert f"chunks[3].{column}" in bodies[ROWS]["errors"][0]["message"]
    assert says in error["message"]


async def test_attempts_over_the_cap_of_other_lengths_or_given_twice_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    input = {"trajectoryId": await trajectory(graphql)}
    many = [{"index": n % 10} for n in range(1_001)]
    for form, field in ((ROWS, "chunks"), (COLUMNS, "chunkColumns")):
        error = await assert_refused(
            graphql,
            session,
            ADD_CHUNK_ATTEMPTS,
            code="BAD_USER_INPUT",
            says=f"{field} has 1001",
            input={**input, **chunk_input(form, many)},
        )
        assert error["extensions"]["maximum"] == 1_000
        assert error["extensions"]["field"] == field
    for columns, field, says in [
        (
            {"index": [0, 1], "frameCount": [3]},
            "chunkColumns.frameCount",
            "chunkColumns.frameCount has 1 entries but chunkColumns.index has 2",
        ),
        (
            {"index": [0, 1], "file": {"path": ["/a", None], "sizeBytes": [1, 2, 3]}},
            "chunkColumns.file.sizeBytes",
            "chunkColumns.file.sizeBytes has 3 entries",
        ),
        (
            {"index": [0, 1], "file": {"path": ["/a", None], "checksum": [None, "ab"]}},
            "chunkColumns.file.checksum[1]",
            "chunkColumns.file.checksum[1] is given but chunkColumns.file.path[1] is null",
        ),
    ]:
        error = await assert_refused(
            graphql,
            session,
            ADD_CHUNK_ATTEMPTS,
            code="BAD_USER_INPUT",
            says=says,
            input={**input, "chunkColumns": columns},
        )
        assert error["extensions"]["field"] == field
    for sent, says in [
        ({"chunks": [], "chunkColumns": {"index": []}}, "not both"),
        ({}, "as chunks or as chunkColumns"),
    ]:
        await assert_refused(
            graphql, session, ADD_CHUNK_ATTEMPTS, code="BAD_USER_INPUT", says=says,
            input={**input, **sent},
        )  # fmt: skip


CHUNKS = st.lists(
    st.fixed_dictionaries(
        {"index": st.integers(min_value=-1, max_value=4)},
        optional={
            "modelVersion": st.none() | st.sampled_from(["v1", "v2", "", "v" * 256]),
            "frameCount": st.none() | st.integers(-1, 50),
            "auditStatus": st.sampled_from(["PENDING", "PASSED", "FAILED"]),
            "file": FILES,
        },
    ),
    max_size=6,
)


@fuzz_settings(40)
@given(chunks=CHUNKS)
async def test_generated_attempts_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, chunks: list[dict[str, Any]]
) -> None:
    """Both ways store the same attempts, files and events, or both refuse alike and
    write nothing; each example adds to a new trajectory each way."""
    made = {form: await trajectory(graphql) for form in FORMS}
    before = await database_state(session)
    bodies = {
        form: await graphql.execute(
            ADD_CHUNK_ATTEMPTS, input={"trajectoryId": made[form], **chunk_input(form, chunks)}
        )
        for form in FORMS
    }
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        same_refusal(bodies)
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    reference = await stored_chunks(session, made[ROWS])
    assert len(reference) == len(chunks)
    assert await stored_chunks(session, made[COLUMNS]) == reference


# Events.

APPEND_EVENTS = """
mutation($events: [EventInput!], $eventColumns: EventColumnsInput) {
  appendEvents(events: $events, eventColumns: $eventColumns) { events { sequence } }
}"""
EVENT_FIELDS = ("type", "subjectId", "level", "payload", "actor")


def event_input(form: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"events": events}
    return {"eventColumns": {"type": [], **columns_of(events, EVENT_FIELDS)}}


async def stored_appended(session: AsyncSession, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    sequences = [e["sequence"] for e in body["data"]["appendEvents"]["events"]]
    event = models.Event
    return await stored(
        session,
        select(
            event.subject_type,
            event.subject_id,
            event.level,
            event.type,
            event.actor,
            event.payload,
        )
        .where(event.sequence.in_(sequences))
        .order_by(event.sequence),
    )


async def subjects(graphql: GraphQLClient) -> dict[str | None, str | None]:
    """A job and a run to write events about, and None for a service event."""
    project = await create_project(graphql, f"p-{uuid.uuid4().hex[:12]}")
    job = await create_job(graphql, projectId=project["id"])
    run = await create_run(graphql, f"run-{uuid.uuid4().hex[:12]}")
    return {"job": job["id"], "run": run["id"], None: None}


async def test_append_events_stores_the_same_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    about = await subjects(graphql)
    events: list[dict[str, Any]] = []
    for n in range(30):
        event: dict[str, Any] = {"type": f"step_{n % 4}"}
        if n % 3:
            event["subjectId"] = about["job" if n % 3 == 1 else "run"]
        if n % 2:
            event["level"] = ("INFO", "WARNING", "ERROR")[n % 3]
        if n % 5:
            event["payload"] = None if n % 5 == 1 else {"n": n, "tags": ["a"]}
        if n % 7 == 0:
            event["actor"] = "worker-7"
        events.append(event)
    bodies = {
        form: await graphql.execute(APPEND_EVENTS, **event_input(form, events)) for form in FORMS
    }
    assert "errors" not in bodies[ROWS] and "errors" not in bodies[COLUMNS], bodies
    reference = await stored_appended(session, bodies[ROWS])
    assert len(reference) == 30
    assert reference[0][:2] == (None, None) and reference[1][0] == "Job"
    assert reference[3][2] == models.EventLevel.INFO and reference[3][5] == {"n": 3, "tags": ["a"]}
    assert await stored_appended(session, bodies[COLUMNS]) == reference


@pytest.mark.parametrize(
    ("changes", "code", "field", "says"),
    [
        ({"type": ""}, "BAD_USER_INPUT", "type", "must be 1 to 128 characters"),
        ({"type": "t" * 129}, "BAD_USER_INPUT", "type", "must be 1 to 128 characters"),
        ({"payload": [1, 2]}, "BAD_USER_INPUT", "payload", "must be a JSON object"),
        ({"payload": "text"}, "BAD_USER_INPUT", "payload", "must be a JSON object"),
        ({"subjectId": "Sm9iOjk5OTk5OTk="}, "NOT_FOUND", None, "must be about an existing node"),
        ({"subjectId": "Sm9iOm5vdGFu"}, "BAD_USER_INPUT", "subjectId", "is not a valid Job id"),
    ],
)
async def test_a_bad_event_is_refused_alike_both_ways(
    graphql: GraphQLClient,
    session: AsyncSession,
    changes: dict[str, Any],
    code: str,
    field: str | None,
    says: str,
) -> None:
    about = await subjects(graphql)
    events: list[dict[str, Any]] = [{"type": "ok", "subjectId": about["job"]} for _ in range(4)]
    events[2] = {**events[2], **changes}
    bodies = {}
    for form in FORMS:
        before = await database_state(session)
        bodies[form] = await graphql.execute(APPEND_EVENTS, **event_input(form, events))
        assert await database_state(session) == before
    error = same_refusal(bodies)
    assert error["extensions"]["code"] == code
    assert says in error["message"]
    if field is not None:
        assert error["extensions"]["field"] == f"eventColumns.{field}[2]"


async def test_events_over_the_cap_of_other_lengths_or_given_twice_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    many = [{"type": "x"} for _ in range(1_001)]
    for form, field in ((ROWS, "events"), (COLUMNS, "eventColumns")):
        error = await assert_refused(
            graphql,
            session,
            APPEND_EVENTS,
            code="BAD_USER_INPUT",
            says=f"{field} has 1001",
            **event_input(form, many),
        )
        assert error["extensions"]["maximum"] == 1_000
    error = await assert_refused(
        graphql,
        session,
        APPEND_EVENTS,
        code="BAD_USER_INPUT",
        says="eventColumns.level has 1 entries but eventColumns.type has 2",
        eventColumns={"type": ["a", "b"], "level": ["INFO"]},
    )
    assert error["extensions"]["field"] == "eventColumns.level"
    await assert_refused(
        graphql,
        session,
        APPEND_EVENTS,
        code="BAD_USER_INPUT",
        says="not both",
        events=[],
        eventColumns={"type": []},
    )


EVENTS = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["ran", "done", "step", "", "t" * 129])},
        optional={
            "subjectId": st.sampled_from(["job", "run", None]),
            "level": st.none() | st.sampled_from(["DEBUG", "INFO", "CRITICAL"]),
            "payload": VALUES,
            "actor": st.none() | st.sampled_from(["worker-1", "agent"]),
        },
    ),
    max_size=6,
)


@fuzz_settings(40)
@given(events=EVENTS)
async def test_generated_events_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, events: list[dict[str, Any]]
) -> None:
    about = await subjects(graphql)
    events = [{**e, "subjectId": about[e["subjectId"]]} if "subjectId" in e else e for e in events]
    before = await database_state(session)
    bodies = {
        form: await graphql.execute(APPEND_EVENTS, **event_input(form, events)) for form in FORMS
    }
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        same_refusal(bodies)
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    reference = await stored_appended(session, bodies[ROWS])
    assert len(reference) == len(events)
    assert await stored_appended(session, bodies[COLUMNS]) == reference


# Output files of a job.

GLEAN = """
mutation($input: GleanJobOutputsInput!) { gleanJobOutputs(input: $input) { job { id } } }"""


def output_input(form: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"files": outputs}
    columns = columnar(outputs, ("parameterName",), "parameterName")
    if "file" not in columns:
        columns["file"] = {"path": []}
    if not any("parameterName" in output for output in outputs):
        del columns["parameterName"]
    return {"fileColumns": columns}


async def running_job(graphql: GraphQLClient) -> str:
    project = await create_project(graphql, f"p-{uuid.uuid4().hex[:12]}")
    job = await create_job(graphql, projectId=project["id"])
    await graphql.data(SET_STATUS, id=job["id"], status="RUNNING")
    node: str = job["id"]
    return node


async def stored_outputs(session: AsyncSession, job: str) -> list[tuple[Any, ...]]:
    """The job's files in the order linked, and its events after it started."""
    link = models.JobFile
    files = await stored(
        session,
        select(link.role, link.parameter_name, *FILE_COLUMNS[:-1])
        .join(models.File, models.File.id == link.file_id)
        .where(link.job_id == row_id(job))
        .order_by(link.id),
    )
    events = await stored_events(session, job)
    return [*files, *(e for e in events if e[0] == "outputs_gleaned")]


def sample_outputs(count: int) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    for n in range(count):
        output: dict[str, Any] = {"file": {"path": f"/jobs/1/out/{n}.mtz"}}
        if n % 2:
            output["parameterName"] = None if n % 4 == 1 else "HKLOUT"
        if n % 3:
            output["file"] |= {"checksum": f"{n:064x}", "sizeBytes": n, "mimetype": "x/mtz"}
        outputs.append(output)
    return outputs


async def test_glean_job_outputs_stores_the_same_files_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    made = {form: await running_job(graphql) for form in FORMS}
    outputs = sample_outputs(25)
    for form in FORMS:
        body = await graphql.execute(
            GLEAN,
            input={
                "jobId": made[form],
                "metrics": [{"key": "Rfactor", "value": 0.2}],
                **output_input(form, outputs),
            },
        )
        assert "errors" not in body, body
    reference = await stored_outputs(session, made[ROWS])
    assert len(reference) == 26
    assert reference[1][:4] == (models.FileRole.OUTPUT, None, "/jobs/1/out/1.mtz", "1.mtz")
    assert reference[-1][2]["files"][0] == "/jobs/1/out/0.mtz"
    assert await stored_outputs(session, made[COLUMNS]) == reference


@pytest.mark.parametrize(
    ("changes", "column", "says"),
    [
        ({"path": ""}, "file.path", "is empty; a file needs a path"),
        ({"sizeBytes": -3}, "file.sizeBytes", "cannot be negative (got -3)"),
    ],
)
async def test_a_bad_output_file_is_refused_alike_both_ways(
    graphql: GraphQLClient, session: AsyncSession, changes: dict[str, Any], column: str, says: str
) -> None:
    outputs = [{"file": file} for file in files_with(2, **changes)]
    input = {"jobId": await running_job(graphql)}
    bodies = {}
    for form in FORMS:
        before = await database_state(session)
        bodies[form] = await graphql.execute(GLEAN, input={**input, **output_input(form, outputs)})
        assert await database_state(session) == before
    error = same_refusal(bodies)
    assert error["extensions"]["field"] == f"fileColumns.{column}[2]"
    assert says in error["message"]


async def test_output_files_over_the_cap_null_or_given_twice_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    input = {"jobId": await running_job(graphql)}
    many = [{"file": {"path": f"/out/{n}"}} for n in range(10_001)]
    for form, field in ((ROWS, "files"), (COLUMNS, "fileColumns")):
        error = await assert_refused(
            graphql,
            session,
            GLEAN,
            code="BAD_USER_INPUT",
            says=f"{field} has 10001",
            input={**input, **output_input(form, many)},
        )
        assert error["extensions"]["maximum"] == 10_000
    for columns, field, says in [
        (
            {"file": {"path": ["/a", None]}},
            "fileColumns.file.path[1]",
            "fileColumns.file.path[1] is empty",
        ),
        (
            {"file": {"path": ["/a", "/b"]}, "parameterName": ["x"]},
            "fileColumns.parameterName",
            "fileColumns.parameterName has 1 entries but fileColumns.file.path has 2",
        ),
    ]:
        error = await assert_refused(
            graphql,
            session,
            GLEAN,
            code="BAD_USER_INPUT",
            says=says,
            input={**input, "fileColumns": columns},
        )
        assert error["extensions"]["field"] == field
    await assert_refused(
        graphql,
        session,
        GLEAN,
        code="BAD_USER_INPUT",
        says="not both",
        input={**input, "files": many[:1], "fileColumns": {"file": {"path": ["/b"]}}},
    )


OUTPUTS = st.lists(
    st.fixed_dictionaries(
        {"file": FILES}, optional={"parameterName": st.none() | st.sampled_from(["HKLOUT", "x"])}
    ),
    max_size=6,
)


@fuzz_settings(30)
@given(outputs=OUTPUTS)
async def test_generated_output_files_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, outputs: list[dict[str, Any]]
) -> None:
    made = {form: await running_job(graphql) for form in FORMS}
    before = await database_state(session)
    bodies = {
        form: await graphql.execute(
            GLEAN, input={"jobId": made[form], **output_input(form, outputs)}
        )
        for form in FORMS
    }
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        same_refusal(bodies)
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    reference = await stored_outputs(session, made[ROWS])
    assert len(reference) == len(outputs) + 1
    assert await stored_outputs(session, made[COLUMNS]) == reference


# Run artifacts.

ADD_ARTIFACTS = """
mutation($input: AddRunArtifactsInput!) {
  addRunArtifacts(input: $input) { artifacts { id role file { path } } }
}"""


def artifact_input(form: str, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"artifacts": artifacts}
    columns = columnar(artifacts, ("role",), "role")
    columns.setdefault("file", {"path": []})
    return {"artifactColumns": columns}


async def stored_artifacts(session: AsyncSession, run: str) -> list[tuple[Any, ...]]:
    artifact = models.RunArtifact
    rows = await stored(
        session,
        select(artifact.role, *FILE_COLUMNS)
        .join(models.File, models.File.id == artifact.file_id)
        .where(artifact.run_id == row_id(run))
        .order_by(artifact.id),
    )
    events = await stored_events(session, run)
    return [*rows, *(e for e in events if e[0] == "artifacts_added")]


async def new_run(graphql: GraphQLClient) -> str:
    node: str = (await create_run(graphql, f"run-{uuid.uuid4().hex[:12]}"))["id"]
    return node


async def test_add_run_artifacts_stores_the_same_artifacts_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    made = {form: await new_run(graphql) for form in FORMS}
    artifacts: list[dict[str, Any]] = [
        {"role": ("bundle", "statepoint", "parquet")[n % 3], "file": file}
        for n, file in enumerate(files_with(0, rows=12, name="first.h5"))
    ]
    for form in FORMS:
        body = await graphql.execute(
            ADD_ARTIFACTS, input={"runId": made[form], **artifact_input(form, artifacts)}
        )
        assert "errors" not in body, body
        returned = body["data"]["addRunArtifacts"]["artifacts"]
        assert [a["file"]["path"] for a in returned] == [a["file"]["path"] for a in artifacts]
    reference = await stored_artifacts(session, made[ROWS])
    assert reference[0][:3] == ("bundle", "/data/out/0.h5", "first.h5")
    assert reference[-1][2] == {"count": 12, "roles": {"bundle": 4, "statepoint": 4, "parquet": 4}}
    assert await stored_artifacts(session, made[COLUMNS]) == reference


@pytest.mark.parametrize(
    ("changes", "column", "says"),
    [
        ({"role": ""}, "role", "must not be empty"),
        ({"role": "r" * 65}, "role", "at most 64 fit"),
        ({"file": {"path": ""}}, "file.path", "is empty; a file needs a path"),
        ({"file": {"path": "/x", "sizeBytes": -1}}, "file.sizeBytes", "cannot be negative"),
    ],
)
async def test_a_bad_artifact_is_refused_alike_both_ways(
    graphql: GraphQLClient, session: AsyncSession, changes: dict[str, Any], column: str, says: str
) -> None:
    artifacts = [{"role": "bundle", "file": file} for file in files_with(0)]
    artifacts[1] = {**artifacts[1], **changes}
    input = {"runId": await new_run(graphql)}
    bodies = {}
    for form in FORMS:
        before = await database_state(session)
        bodies[form] = await graphql.execute(
            ADD_ARTIFACTS, input={**input, **artifact_input(form, artifacts)}
        )
        assert await database_state(session) == before
    error = same_refusal(bodies)
    assert error["extensions"]["field"] == f"artifactColumns.{column}[1]"
    assert says in error["message"]


async def test_artifacts_over_the_cap_of_other_lengths_or_given_twice_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    input = {"runId": await new_run(graphql)}
    many = [{"role": "r", "file": {"path": f"/a/{n}"}} for n in range(1_001)]
    for form, field in ((ROWS, "artifacts"), (COLUMNS, "artifactColumns")):
        error = await assert_refused(
            graphql,
            session,
            ADD_ARTIFACTS,
            code="BAD_USER_INPUT",
            says=f"{field} has 1001",
            input={**input, **artifact_input(form, many)},
        )
        assert error["extensions"]["maximum"] == 1_000
    error = await assert_refused(
        graphql,
        session,
        ADD_ARTIFACTS,
        code="BAD_USER_INPUT",
        says="artifactColumns.file.path has 1 entries but artifactColumns.role has 2",
        input={**input, "artifactColumns": {"role": ["a", "b"], "file": {"path": ["/a"]}}},
    )
    assert error["extensions"]["field"] == "artifactColumns.file.path"
    await assert_refused(
        graphql,
        session,
        ADD_ARTIFACTS,
        code="BAD_USER_INPUT",
        says="not both",
        input={**input, "artifacts": [], "artifactColumns": {"role": [], "file": {"path": []}}},
    )


ARTIFACTS = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["bundle"] * 4 + ["parquet"] * 4 + ["", "r" * 65]), "file": FILES}
    ),
    max_size=6,
)


@fuzz_settings(30)
@given(artifacts=ARTIFACTS)
async def test_generated_artifacts_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, artifacts: list[dict[str, Any]]
) -> None:
    made = {form: await new_run(graphql) for form in FORMS}
    before = await database_state(session)
    bodies = {
        form: await graphql.execute(
            ADD_ARTIFACTS, input={"runId": made[form], **artifact_input(form, artifacts)}
        )
        for form in FORMS
    }
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        same_refusal(bodies)
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    reference = await stored_artifacts(session, made[ROWS])
    assert len(reference) == len(artifacts) + 1
    assert await stored_artifacts(session, made[COLUMNS]) == reference


# Molecules.

CREATE_MOLECULES = """
mutation($input: CreateMoleculesInput!) {
  createMolecules(input: $input) { molecules { created molecule { id } } }
}"""
DELETE = "mutation($id: ID!) { deleteNode(id: $id) { deletedId } }"
MOLECULE_FIELDS = ("smiles", "name", "attributes")


def molecule_input(form: str, molecules: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"molecules": molecules}
    return {"moleculeColumns": {"smiles": [], **columns_of(molecules, MOLECULE_FIELDS)}}


async def create_and_forget(
    graphql: GraphQLClient, session: AsyncSession, form: str, molecules: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[Any]]:
    """createMolecules in `form`, and what it stored: per input molecule whether it was
    created, its row, and the created event of each molecule it created. The molecules
    created are then deleted, so that the other form creates them anew."""
    body = await graphql.execute(CREATE_MOLECULES, input=molecule_input(form, molecules))
    if "errors" in body:
        return body, []
    results = body["data"]["createMolecules"]["molecules"]
    ids = [row_id(result["molecule"]["id"]) for result in results]
    molecule = models.Molecule
    rows = {
        row[0]: row[1:]
        for row in await stored(
            session,
            select(
                molecule.id, molecule.smiles, molecule.name, molecule.formula, molecule.attributes
            ).where(molecule.id.in_(ids)),
        )
    }
    created = [result["molecule"]["id"] for result in results if result["created"]]
    events = [await stored_events(session, node) for node in created]
    for node in created:
        await graphql.data(DELETE, id=node)
    return body, [
        [(result["created"], rows[node]) for result, node in zip(results, ids, strict=True)],
        events,
    ]


@pytest.mark.chemistry
async def test_create_molecules_stores_the_same_molecules_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    molecules: list[dict[str, Any]] = [
        {"smiles": "CCO", "name": "ethanol", "attributes": {"cas": "64-17-5"}},
        {"smiles": "OCC"},
        {"smiles": "c1ccccc1", "name": None, "attributes": None},
        {"smiles": "CC(=O)O", "attributes": {"pka": 4.76}},
    ]
    stored_rows = {}
    for form in FORMS:
        body, stored_rows[form] = await create_and_forget(graphql, session, form, molecules)
        assert "errors" not in body, body
    reference = stored_rows[ROWS]
    assert [created for created, _ in reference[0]] == [True, False, True, True]
    assert reference[0][1][1] == ("CCO", "ethanol", "C2H6O", {"cas": "64-17-5"})
    assert stored_rows[COLUMNS] == reference


@pytest.mark.parametrize(
    ("changes", "column", "says"),
    [
        ({"smiles": "C1CC"}, "smiles", "is not a valid SMILES"),
        ({"smiles": ""}, "smiles", "is not a SMILES string"),
        ({"attributes": [1]}, "attributes", "must be a JSON object"),
    ],
)
@pytest.mark.chemistry
async def test_a_bad_molecule_is_refused_alike_both_ways(
    graphql: GraphQLClient, session: AsyncSession, changes: dict[str, Any], column: str, says: str
) -> None:
    molecules: list[dict[str, Any]] = [{"smiles": smiles} for smiles in ("C", "CC", "CCC")]
    molecules[2] = {**molecules[2], **changes}
    bodies = {}
    for form in FORMS:
        before = await database_state(session)
        bodies[form] = await graphql.execute(
            CREATE_MOLECULES, input=molecule_input(form, molecules)
        )
        assert await database_state(session) == before
    error = same_refusal(bodies)
    assert error["extensions"]["field"] == f"moleculeColumns.{column}[2]"
    assert says in error["message"]


async def test_molecules_over_the_cap_of_other_lengths_or_given_twice_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    many = [{"smiles": "C"}] * 1_001
    for form, field in ((ROWS, "molecules"), (COLUMNS, "moleculeColumns")):
        error = await assert_refused(
            graphql,
            session,
            CREATE_MOLECULES,
            code="BAD_USER_INPUT",
            says=f"{field} has 1001",
            input=molecule_input(form, many),
        )
        assert error["extensions"]["maximum"] == 1_000
    error = await assert_refused(
        graphql,
        session,
        CREATE_MOLECULES,
        code="BAD_USER_INPUT",
        says="moleculeColumns.name has 1 entries but moleculeColumns.smiles has 2",
        input={"moleculeColumns": {"smiles": ["C", "CC"], "name": ["methane"]}},
    )
    assert error["extensions"]["field"] == "moleculeColumns.name"
    await assert_refused(
        graphql,
        session,
        CREATE_MOLECULES,
        code="BAD_USER_INPUT",
        says="not both",
        input={"molecules": [], "moleculeColumns": {"smiles": []}},
    )


MOLECULES = st.lists(
    st.fixed_dictionaries(
        {"smiles": st.sampled_from(["C", "CCO", "OCC", "c1ccccc1", "CCN", "C1CC", "", "C C"])},
        optional={"name": st.none() | st.sampled_from(["a", "b"]), "attributes": VALUES},
    ),
    max_size=5,
)


@fuzz_settings(30)
@given(molecules=MOLECULES)
@pytest.mark.chemistry
async def test_generated_molecules_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, molecules: list[dict[str, Any]]
) -> None:
    """Both ways create the same molecules and events, or both refuse alike and write
    nothing; what a form creates is deleted before the other runs."""
    before = await database_state(session)
    results = {form: await create_and_forget(graphql, session, form, molecules) for form in FORMS}
    bodies = {form: body for form, (body, _) in results.items()}
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        same_refusal(bodies)
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    assert len(results[ROWS][1][0]) == len(molecules)
    assert results[COLUMNS][1] == results[ROWS][1]
