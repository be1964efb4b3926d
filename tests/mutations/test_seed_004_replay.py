"""Seed 004's "Basic Operations", call by call, as mutations; then its monitoring queries
through the read API.

    upsert_study(spec_hash, canonical_spec)     -> upsertStudyBySpec (the server hashes)
    create_run(run_id, spec_hash, ...)          -> createRun (status queued = PENDING)
    update_run_phase(phase, status, started)    -> setRunPhase (the server sets the times)
    insert_summary(run_id, keff, ...)           -> recordMetrics on the run
    append_event(run_id, event_type, payload)   -> appendEvent
    upsert_agent_output(run_id, agent, ...)     -> storeAgentOutput
"""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient
from tests.runs.test_runs import STORE_AGENT_OUTPUT, UPSERT_STUDY, create_run

SPEC = {
    "name": "pincell",
    "geometry": {"type": "pincell", "pitch_cm": 1.26, "fuel_radius_cm": 0.4096},
    "settings": {"batches": 100, "inactive": 20, "particles": 10000},
}
# the same spec as another client serialises it
SPEC_REORDERED = {
    "settings": {"particles": 10000, "inactive": 20, "batches": 100},
    "geometry": {"fuel_radius_cm": 0.4096, "pitch_cm": 1.26, "type": "pincell"},
    "name": "pincell",
}
UPDATE_PHASE = """
mutation($input: SetRunPhaseInput!) {
  setRunPhase(input: $input) { run { phase status startedAt endedAt } }
}"""
RECORD_METRICS = """
mutation($run: ID!, $metrics: [MetricInput!]!) {
  recordMetrics(subjectId: $run, metrics: $metrics) { subject { id } }
}"""
APPEND_EVENT = """
mutation($input: EventInput!) { appendEvent(input: $input) { events { type payload } } }"""
SUMMARY = {
    "keff": 1.0234,
    "keff_std": 0.0012,
    "keff_uncertainty_pcm": 120,
    "n_batches": 100,
    "n_inactive": 20,
    "n_particles": 10000,
}
RUN = """
query($id: ID!) { node(id: $id) { ... on Run {
  name status phase startedAt endedAt study { specHash }
  metrics { nodes { name value } }
  agentOutputs { nodes { agent kind data schemaVersion } }
} } }"""
QUEUED = """
{ runs(where: {status: {eq: PENDING}}) { nodes { name } } }"""
RUNS_OF_SPEC = """
query($hash: String) {
  runs(where: {study: {specHash: {eq: $hash}}}, orderBy: [{field: CREATED_AT, direction: DESC}]) {
    nodes { name }
  }
}"""
BY_STATUS = "{ runs { groups(by: [STATUS]) { key { status } count } } }"
AUDIT_TRAIL = """
query($id: ID!) { node(id: $id) { ... on Run { events(last: 50) { nodes { type payload } } } } }"""


async def update_run_phase(
    graphql: GraphQLClient, run: dict[str, Any], phase: str, status: str | None = None
) -> Any:
    input = {"id": run["id"], "phase": phase, **({"status": status} if status else {})}
    return (await graphql.data(UPDATE_PHASE, input=input))["setRunPhase"]["run"]


async def test_seed_004_basic_operations_and_monitoring(graphql: GraphQLClient) -> None:
    # 1. study = upsert_study(spec_hash, canonical_spec): deduplicated by spec hash
    study = (await graphql.data(UPSERT_STUDY, input={"spec": SPEC}))["upsertStudyBySpec"]
    same = (await graphql.data(UPSERT_STUDY, input={"spec": SPEC_REORDERED}))["upsertStudyBySpec"]
    assert (study["created"], same["created"]) == (True, False)
    assert same["study"]["id"] == study["study"]["id"]
    spec_hash = study["study"]["specHash"]

    # 2. run = create_run(run_id, spec_hash, initial_phase="bundle", initial_status="queued")
    run = await create_run(graphql, "run_xyz789", specHash=spec_hash, phase="BUNDLE")
    assert (run["status"], run["phase"], run["startedAt"]) == ("PENDING", "BUNDLE", None)

    # 3. update_run_phase(run_id, phase="execute", status="running", started=True) and on
    executing = await update_run_phase(graphql, run, "EXECUTE", "RUNNING")
    assert executing["status"] == "RUNNING"
    assert executing["startedAt"] is not None
    assert executing["endedAt"] is None
    extracting = await update_run_phase(graphql, run, "EXTRACT")
    assert (extracting["phase"], extracting["status"]) == ("EXTRACT", "RUNNING")
    assert extracting["startedAt"] == executing["startedAt"]
    done = await update_run_phase(graphql, run, "DONE", "SUCCEEDED")
    assert (done["phase"], done["status"]) == ("DONE", "SUCCEEDED")
    assert done["startedAt"] == executing["startedAt"]
    assert done["endedAt"] >= done["startedAt"]

    # 4. insert_summary(run_id, keff=..., ...)
    metrics = [{"key": key, "value": value} for key, value in SUMMARY.items()]
    await graphql.data(RECORD_METRICS, run=run["id"], metrics=metrics)

    # 5. append_event(run_id, event_type="simulation_completed", payload=...)
    completed = {"exit_code": 0, "elapsed_seconds": 45.2}
    await graphql.data(
        APPEND_EVENT,
        input={"subjectId": run["id"], "type": "simulation_completed", "payload": completed},
    )

    # upsert_agent_output(run_id, agent="planner", kind="simulation_plan", data=..., "0.1")
    plan = {"geometry_changes": [], "material_updates": [], "rationale": "baseline"}
    await graphql.data(
        STORE_AGENT_OUTPUT,
        input={
            "runId": run["id"],
            "agent": "planner",
            "kind": "simulation_plan",
            "data": plan,
            "schemaVersion": "0.1",
        },
    )

    read = (await graphql.data(RUN, id=run["id"]))["node"]
    assert read["study"] == {"specHash": spec_hash}
    assert (read["status"], read["phase"]) == ("SUCCEEDED", "DONE")
    assert (read["startedAt"], read["endedAt"]) == (done["startedAt"], done["endedAt"])
    assert {m["name"]: m["value"] for m in read["metrics"]["nodes"]} == SUMMARY
    assert read["agentOutputs"]["nodes"] == [
        {"agent": "planner", "kind": "simulation_plan", "data": plan, "schemaVersion": "0.1"}
    ]

    # monitoring: queued runs; runs of a spec, newest first; runs per status
    await create_run(graphql, "run_queued_1", specHash=spec_hash)
    await create_run(graphql, "run_queued_2")
    queued = (await graphql.data(QUEUED))["runs"]["nodes"]
    assert queued == [{"name": "run_queued_1"}, {"name": "run_queued_2"}]
    of_spec = (await graphql.data(RUNS_OF_SPEC, hash=spec_hash))["runs"]["nodes"]
    assert of_spec == [{"name": "run_queued_1"}, {"name": "run_xyz789"}]
    assert (await graphql.data(BY_STATUS))["runs"]["groups"] == [
        {"key": {"status": "PENDING"}, "count": 2},
        {"key": {"status": "SUCCEEDED"}, "count": 1},
    ]

    # get_events(run_id, limit=50): the audit trail, oldest first
    events = (await graphql.data(AUDIT_TRAIL, id=run["id"]))["node"]["events"]["nodes"]
    assert [(event["type"], event["payload"].get("to")) for event in events] == [
        ("created", None),
        ("phase_changed", "EXECUTE"),
        ("status_changed", "RUNNING"),
        ("phase_changed", "EXTRACT"),
        ("phase_changed", "DONE"),
        ("status_changed", "SUCCEEDED"),
        ("metrics_recorded", None),
        ("simulation_completed", None),
    ]
    assert events[1]["payload"] == {"from": "BUNDLE", "to": "EXECUTE"}
    assert events[2]["payload"] == {"from": "PENDING", "to": "RUNNING"}
    assert events[5]["payload"] == {"from": "RUNNING", "to": "SUCCEEDED"}
    assert events[6]["payload"] == {"metrics": SUMMARY}
    assert events[7]["payload"] == completed
