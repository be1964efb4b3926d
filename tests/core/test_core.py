"""Mutations every domain shares: events, metrics, metric keys, deletes; idempotency keys
and version checks, shown on jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import GraphQLClient
from tests.jobs.test_jobs import CREATE_JOB, create_job, create_project
from tests.support.snapshots import database_state

APPEND_EVENTS = """
mutation($events: [EventInput!]!) {
  appendEvents(events: $events) { events { sequence type actor payload subjectId } }
}"""
RECORD_METRICS = """
mutation($id: ID!, $metrics: [MetricInput!]!) {
  recordMetrics(subjectId: $id, metrics: $metrics) {
    subject { ... on Job { metrics { nodes { name value text unit version } } } }
  }
}"""
DELETE = """
mutation($id: ID!) { deleteNode(id: $id) { deletedId snapshot } }"""
UPDATE_JOB = """
mutation($input: UpdateJobInput!) { updateJob(input: $input) { job { title version } } }"""


async def test_events_are_appended_in_order_with_actor_and_payload(
    graphql: GraphQLClient,
) -> None:
    project = await create_project(graphql)
    job = await create_job(graphql, projectId=project["id"])
    events = (
        await graphql.data(
            APPEND_EVENTS,
            events=[
                {"subjectId": job["id"], "type": "phase_started", "payload": {"phase": "a"}},
                {"subjectId": job["id"], "type": "error", "actor": "worker-01"},
            ],
        )
    )["appendEvents"]["events"]
    assert [e["type"] for e in events] == ["phase_started", "error"]
    assert events[0]["sequence"] < events[1]["sequence"]
    assert [e["actor"] for e in events] == ["local", "worker-01"]
    assert events[0]["payload"] == {"phase": "a"}
    assert {e["subjectId"] for e in events} == {job["id"]}


async def test_recording_a_metric_again_replaces_its_value(graphql: GraphQLClient) -> None:
    project = await create_project(graphql)
    job = await create_job(graphql, projectId=project["id"])
    await graphql.data(
        RECORD_METRICS,
        id=job["id"],
        metrics=[{"key": "Rfactor", "value": 0.3}, {"key": "space_group", "text": "P 21 21 21"}],
    )
    data = await graphql.data(
        RECORD_METRICS, id=job["id"], metrics=[{"key": "Rfactor", "value": 0.25, "unit": "1"}]
    )
    metrics = {m["name"]: m for m in data["recordMetrics"]["subject"]["metrics"]["nodes"]}
    assert metrics["Rfactor"]["value"] == 0.25
    assert metrics["Rfactor"]["unit"] == "1"
    assert metrics["Rfactor"]["version"] == 2
    assert metrics["space_group"]["text"] == "P 21 21 21"


async def test_define_metric_key_describes_the_catalogue_entry(graphql: GraphQLClient) -> None:
    data = await graphql.data(
        """mutation { defineMetricKey(name: "keff", description: "multiplication factor",
        unit: "1") { metricKey { name description unit } } }"""
    )
    assert data["defineMetricKey"]["metricKey"] == {
        "name": "keff",
        "description": "multiplication factor",
        "unit": "1",
    }


async def test_delete_writes_a_deleted_event_and_removes_the_row(graphql: GraphQLClient) -> None:
    project = await create_project(graphql)
    job = await create_job(graphql, projectId=project["id"])
    deleted = (await graphql.data(DELETE, id=job["id"]))["deleteNode"]
    assert deleted["deletedId"] == job["id"]
    assert deleted["snapshot"]["number"] == "1"
    data = await graphql.data(
        """query($id: ID!) { events(where: {subject: {eq: $id}}) { nodes { type } } }""",
        id=job["id"],
    )
    assert [e["type"] for e in data["events"]["nodes"]] == ["created", "deleted"]
    body = await graphql.execute("query($id: ID!) { node(id: $id) { id } }", id=job["id"])
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_idempotency_key_returns_the_first_job_and_writes_nothing_more(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    project = await create_project(graphql)
    input = {"projectId": project["id"], "taskName": "refmac", "idempotencyKey": "k-1"}
    first = (await graphql.data(CREATE_JOB, input=input))["createJob"]
    before = await database_state(session)
    again = (await graphql.data(CREATE_JOB, input=input))["createJob"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["job"]["id"] == first["job"]["id"]
    assert await database_state(session) == before


async def test_an_idempotency_key_reused_for_other_input_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    project = await create_project(graphql)
    input = {"projectId": project["id"], "taskName": "refmac", "idempotencyKey": "k-2"}
    await graphql.data(CREATE_JOB, input=input)
    before = await database_state(session)
    body = await graphql.execute(CREATE_JOB, input={**input, "taskName": "ctruncate"})
    extensions = body["errors"][0]["extensions"]
    assert (extensions["code"], extensions["reason"]) == ("CONFLICT", "IDEMPOTENCY_KEY_REUSED")
    assert "k-2" in body["errors"][0]["message"]
    assert await database_state(session) == before


async def test_a_stale_expected_version_is_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    project = await create_project(graphql)
    job: dict[str, Any] = await create_job(graphql, projectId=project["id"])
    updated = await graphql.data(UPDATE_JOB, input={"id": job["id"], "title": "first"})
    assert updated["updateJob"]["job"] == {"title": "first", "version": 2}
    before = await database_state(session)
    body = await graphql.execute(
        UPDATE_JOB, input={"id": job["id"], "title": "second", "expectedVersion": 1}
    )
    error = body["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["reason"]) == (
        "CONFLICT",
        "STALE_VERSION",
    )
    assert error["extensions"]["version"] == 2
    assert await database_state(session) == before
    current = await graphql.data(
        UPDATE_JOB, input={"id": job["id"], "title": "second", "expectedVersion": 2}
    )
    assert current["updateJob"]["job"] == {"title": "second", "version": 3}


async def test_the_database_state_sees_an_update(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    project = await create_project(graphql)
    job = await create_job(graphql, projectId=project["id"])
    before = await database_state(session)
    await graphql.data(UPDATE_JOB, input={"id": job["id"], "title": "changed"})
    after = await database_state(session)
    assert {table for table in after if after[table] != before[table]} == {"jobs", "events"}
    assert after["jobs"][0] == before["jobs"][0]
