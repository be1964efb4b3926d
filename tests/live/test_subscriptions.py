"""Subscriptions over graphql-transport-ws against a server that really listens: what a
message carries, the filters, resuming with afterSequence, and what a client leaves
behind when it goes."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta import models
from scimeta.server.database import create_engine
from tests.conftest import GraphQLClient
from tests.jobs.test_jobs import CREATE_JOB, CREATE_PROJECT
from tests.jobs.test_jobs import SET_STATUS as SET_JOB_STATUS
from tests.live.conftest import LiveServer, Subscriber, serving
from tests.runs.test_runs import SET_AUDIT, add_chunk, initialize_trajectory

RUN_CHANGED = """
subscription($id: ID, $where: RunWhere, $types: [String!], $after: Long) {
  runChanged(id: $id, where: $where, types: $types, afterSequence: $after) {
    sequence
    event { type payload subjectId sequence }
    run { id name status phase study { name } events(last: 1) { nodes { type } } }
  }
}"""
CREATE_STUDY = """
mutation($name: String!) { createStudy(input: {name: $name}) { study { id name } } }"""
CREATE_RUN = """
mutation($name: String!, $study: ID) {
  createRun(input: {name: $name, studyId: $study}) { run { id name } }
}"""
SET_RUN_STATUS = """
mutation($id: ID!, $status: Status!) { setRunStatus(input: {id: $id, status: $status}) {
  run { id status } } }"""
SET_RUN_PHASE = """
mutation($id: ID!, $phase: RunPhase!) { setRunPhase(input: {id: $id, phase: $phase}) {
  run { id phase } } }"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def newest_sequence(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        newest = await connection.scalar(select(func.coalesce(func.max(models.Event.sequence), 0)))
    return int(newest)


async def new_run(http: GraphQLClient, study: str | None = None) -> dict[str, Any]:
    data = await http.data(CREATE_RUN, name=unique("live-run"), study=study)
    run: dict[str, Any] = data["createRun"]["run"]
    return run


async def test_a_status_change_reaches_a_subscriber_with_the_nested_fields_it_selected(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    study = (await http.data(CREATE_STUDY, name=unique("live-study")))["createStudy"]["study"]
    run = await new_run(http, study["id"])
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        after = await newest_sequence(live_engine)
        operation = await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=after)
        await http.data(SET_RUN_STATUS, id=run["id"], status="RUNNING")
        first = (await subscriber.next(operation))["runChanged"]
        # the subscription is registered now; what follows comes through NOTIFY alone
        await http.data(SET_RUN_PHASE, id=run["id"], phase="EXECUTE")
        second = (await subscriber.next(operation))["runChanged"]

    assert first["event"]["type"] == "status_changed"
    assert first["event"]["payload"] == {"from": "PENDING", "to": "RUNNING"}
    assert first["event"]["subjectId"] == run["id"]
    assert first["sequence"] == first["event"]["sequence"] > after
    assert first["run"]["study"] == {"name": study["name"]}
    assert first["run"]["name"] == run["name"]
    assert second["event"]["type"] == "phase_changed"
    assert second["sequence"] > first["sequence"]
    # the run as it is when the message is sent, read through the loaders
    assert second["run"]["phase"] == "EXECUTE"
    assert second["run"]["status"] == "RUNNING"
    assert second["run"]["events"]["nodes"] == [{"type": "phase_changed"}]


async def test_a_subscriber_gets_only_the_runs_and_event_types_it_asked_for(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    watched, other = await new_run(http), await new_run(http)
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        after = await newest_sequence(live_engine)
        by_id = await subscriber.subscribe(
            RUN_CHANGED, id=watched["id"], types=["status_changed"], after=after
        )
        by_where = await subscriber.subscribe(
            RUN_CHANGED, where={"name": {"eq": other["name"]}}, after=after
        )
        await http.data(SET_RUN_PHASE, id=watched["id"], phase="EXECUTE")
        await http.data(SET_RUN_STATUS, id=other["id"], status="RUNNING")
        await http.data(SET_RUN_STATUS, id=watched["id"], status="RUNNING")
        watched_change = (await subscriber.next(by_id))["runChanged"]
        other_change = (await subscriber.next(by_where))["runChanged"]
        # a last change that both would see if they were not filtered: each gets its own
        await http.data(SET_RUN_STATUS, id=other["id"], status="SUCCEEDED")
        await http.data(SET_RUN_STATUS, id=watched["id"], status="FAILED")
        assert (await subscriber.next(by_where))["runChanged"]["run"]["status"] == "SUCCEEDED"
        assert (await subscriber.next(by_id))["runChanged"]["run"]["status"] == "FAILED"
        assert subscriber.pending(by_id) == subscriber.pending(by_where) == 0

    assert watched_change["run"]["id"] == watched["id"]
    assert watched_change["event"]["type"] == "status_changed"
    assert other_change["run"]["id"] == other["id"]
    assert other_change["event"]["payload"] == {"from": "PENDING", "to": "RUNNING"}


async def test_a_client_that_reconnects_after_the_last_sequence_gets_each_missed_event_once(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    run, other = await new_run(http), await new_run(http)
    after = await newest_sequence(live_engine)
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        operation = await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=after)
        await http.data(SET_RUN_STATUS, id=run["id"], status="RUNNING")
        seen = (await subscriber.next(operation))["runChanged"]["sequence"]
    await live_server.hub.wait_for_subscriptions(0)

    # while the client is away: three changes to its run, and others it does not watch
    for phase in ("EXECUTE", "EXTRACT"):
        await http.data(SET_RUN_PHASE, id=run["id"], phase=phase)
        await http.data(
            SET_RUN_STATUS, id=other["id"], status="RUNNING" if phase == "EXECUTE" else "FAILED"
        )
    await http.data(SET_RUN_STATUS, id=run["id"], status="SUCCEEDED")

    async with Subscriber.connect(live_server.ws_url) as subscriber:
        operation = await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=seen)
        missed = [(await subscriber.next(operation))["runChanged"] for _ in range(3)]
        # then live: a change made after the replay arrives, and nothing else does
        await http.data(SET_RUN_STATUS, id=other["id"], status="PENDING")
        await http.data(
            'mutation($id: ID!) { updateRun(input: {id: $id, attributes: {note: "late"}}) '
            "{ run { id } } }",
            id=run["id"],
        )
        live = (await subscriber.next(operation))["runChanged"]
        assert subscriber.pending(operation) == 0

    assert [(m["event"]["type"], m["event"]["payload"].get("to")) for m in missed] == [
        ("phase_changed", "EXECUTE"),
        ("phase_changed", "EXTRACT"),
        ("status_changed", "SUCCEEDED"),
    ]
    sequences = [m["sequence"] for m in missed]
    assert sequences == sorted(set(sequences)) and sequences[0] > seen
    assert live["event"]["type"] == "updated" and live["sequence"] > sequences[-1]
    async with live_engine.connect() as connection:
        in_log = (
            await connection.scalars(
                select(models.Event.sequence).where(
                    models.Event.subject_type == "Run",
                    models.Event.subject_id == int(row_id(run["id"])),
                    models.Event.sequence > seen,
                )
            )
        ).all()
    assert [*sequences, live["sequence"]] == sorted(in_log)


async def test_a_client_that_goes_leaves_no_subscription_or_connection_behind(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    run = await new_run(http)
    pool = live_engine.pool
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        operations = [
            await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=0) for _ in range(3)
        ]
        # each has replayed the run's creation and waits for more
        for operation in operations:
            assert (await subscriber.next(operation))["runChanged"]["event"]["type"] == "created"
        assert live_server.hub.subscription_count == 3
        # an idle subscription holds no database connection
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        await subscriber.stop(operations[0])
        await live_server.hub.wait_for_subscriptions(2)
    await live_server.hub.wait_for_subscriptions(0)
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_subscriptions_keep_delivering_after_the_listening_connection_is_killed(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    run = await new_run(http)
    hub = live_server.hub
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        operation = await subscriber.subscribe(
            RUN_CHANGED, id=run["id"], after=await newest_sequence(live_engine)
        )
        await http.data(SET_RUN_STATUS, id=run["id"], status="RUNNING")
        await subscriber.next(operation)
        listener = hub.backend_pid
        async with live_engine.connect() as connection:
            killed = await connection.scalar(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": listener}
            )
        assert killed is True
        # committed while the listener may well be down: read on reconnect
        await http.data(SET_RUN_PHASE, id=run["id"], phase="EXECUTE")
        during = (await subscriber.next(operation))["runChanged"]
        await hub.connected.wait()
        await http.data(SET_RUN_PHASE, id=run["id"], phase="EXTRACT")
        after = (await subscriber.next(operation))["runChanged"]

    assert hub.reconnects >= 1
    assert hub.backend_pid not in (None, listener)
    assert (during["run"]["phase"], after["run"]["phase"]) == ("EXECUTE", "EXTRACT")


async def test_bad_subscription_arguments_get_an_error_with_a_code(
    live_server: LiveServer, http: GraphQLClient
) -> None:
    run = await new_run(http)
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        no_parent = await subscriber.subscribe(
            "subscription { chunkChanged { sequence } }",
        )
        negative = await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=-1)
        wrong_type = await subscriber.subscribe(
            "subscription($id: ID!) { jobChanged(projectId: $id) { sequence } }", id=run["id"]
        )
        errors = [await subscriber.message(op) for op in (no_parent, negative, wrong_type)]
    for message in errors:
        assert message["type"] == "next", message
        [error] = message["payload"]["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "runId or trajectoryId" in errors[0]["payload"]["errors"][0]["message"]
    assert "afterSequence" in errors[1]["payload"]["errors"][0]["message"]
    assert "Project" in errors[2]["payload"]["errors"][0]["message"]


def row_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


CHUNK_CHANGED = """
subscription($run: ID, $trajectory: ID, $types: [String!], $after: Long) {
  chunkChanged(runId: $run, trajectoryId: $trajectory, types: $types, afterSequence: $after) {
    sequence event { type payload } chunk { index attempt auditStatus trajectory { index } }
  }
}"""
JOB_CHANGED = """
subscription($project: ID!, $after: Long) {
  jobChanged(projectId: $project, afterSequence: $after) {
    sequence event { type payload } job { number status parent { number } }
  }
}"""
EVENT_ADDED = """
subscription($subject: ID, $type: String, $types: [String!], $after: Long) {
  eventAdded(subjectId: $subject, subjectType: $type, types: $types, afterSequence: $after) {
    sequence type subjectType subjectId payload
  }
}"""


async def test_chunk_job_and_event_subscriptions_send_what_they_follow(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    run, other_run = await new_run(http), await new_run(http)
    trajectory = await initialize_trajectory(http, run["id"])
    other_trajectory = await initialize_trajectory(http, other_run["id"])
    project = (await http.data(CREATE_PROJECT, name=unique("live-project")))["createProject"]
    other_project = (await http.data(CREATE_PROJECT, name=unique("other")))["createProject"]
    after = await newest_sequence(live_engine)
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        audits = await subscriber.subscribe(
            CHUNK_CHANGED, run=run["id"], types=["audit_status_changed"], after=after
        )
        chunks = await subscriber.subscribe(CHUNK_CHANGED, trajectory=trajectory["id"], after=after)
        jobs = await subscriber.subscribe(
            JOB_CHANGED, project=project["project"]["id"], after=after
        )
        run_events = await subscriber.subscribe(EVENT_ADDED, subject=run["id"], after=after)
        created = await subscriber.subscribe(
            EVENT_ADDED, type="Job", types=["created"], after=after
        )

        await add_chunk(http, other_trajectory["id"], 0)
        chunk = await add_chunk(http, trajectory["id"], 0)
        await http.data(SET_AUDIT, input={"id": chunk["id"], "auditStatus": "PASSED"})
        await http.data(
            CREATE_JOB, input={"projectId": other_project["project"]["id"], "taskName": "x"}
        )
        job = (
            await http.data(
                CREATE_JOB, input={"projectId": project["project"]["id"], "taskName": "index"}
            )
        )["createJob"]["job"]
        child = (await http.data(CREATE_JOB, input={"parentId": job["id"], "taskName": "scale"}))[
            "createJob"
        ]["job"]
        await http.data(SET_JOB_STATUS, id=child["id"], status="RUNNING")
        await http.data(SET_RUN_STATUS, id=run["id"], status="RUNNING")

        audit = (await subscriber.next(audits))["chunkChanged"]
        attempts = [(await subscriber.next(chunks))["chunkChanged"] for _ in range(2)]
        job_changes = [(await subscriber.next(jobs))["jobChanged"] for _ in range(3)]
        about_run = [(await subscriber.next(run_events))["eventAdded"] for _ in range(1)]
        jobs_created = [(await subscriber.next(created))["eventAdded"] for _ in range(3)]
        for operation in (audits, chunks, jobs, run_events, created):
            assert subscriber.pending(operation) == 0

    assert audit["event"]["payload"] == {"from": "PENDING", "to": "PASSED"}
    assert audit["chunk"]["auditStatus"] == "PASSED"
    assert [a["event"]["type"] for a in attempts] == ["created", "audit_status_changed"]
    assert attempts[0]["chunk"]["trajectory"] == {"index": 0}
    assert [(c["event"]["type"], c["job"]["number"]) for c in job_changes] == [
        ("created", job["number"]),
        ("created", child["number"]),
        ("status_changed", child["number"]),
    ]
    assert job_changes[2]["job"]["parent"] == {"number": job["number"]}
    assert [(e["type"], e["subjectId"]) for e in about_run] == [("status_changed", run["id"])]
    assert [e["subjectType"] for e in jobs_created] == ["Job"] * 3
    assert [e["sequence"] for e in jobs_created] == sorted(e["sequence"] for e in jobs_created)


async def test_an_application_without_its_listener_refuses_subscriptions_with_a_code(
    live_engine: AsyncEngine,
) -> None:
    # without its lifespan (as an in-process test client runs it) there is no listener
    async with (
        serving(live_engine, lifespan="off") as server,
        Subscriber.connect(server.ws_url) as subscriber,
    ):
        operation = await subscriber.subscribe("subscription { eventAdded { sequence } }")
        message = await subscriber.message(operation)

    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "SUBSCRIPTIONS_UNAVAILABLE"
    assert "event listener" in error["message"]


async def test_a_database_url_with_sslmode_serves_subscriptions(
    live_url: str, live_engine: AsyncEngine
) -> None:
    url = make_url(live_url).update_query_dict({"sslmode": "disable"})
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        async with (
            serving(engine) as server,
            httpx.AsyncClient(base_url=server.base_url) as client,
            Subscriber.connect(server.ws_url) as subscriber,
        ):
            run = await new_run(GraphQLClient(client))
            operation = await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=0)
            change = (await subscriber.next(operation))["runChanged"]
    finally:
        await engine.dispose()

    assert (change["event"]["type"], change["run"]["id"]) == ("created", run["id"])
