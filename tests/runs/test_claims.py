"""Workers claim queued runs under a lease: each run goes to one worker at a time, oldest
first; a lease that expired passes the run on, and a worker whose lease is stale can no
longer touch the run.

Claims must commit to be seen by other claimers, so these tests use the committed
database. Each test names its runs with a fresh prefix and claims only runs with it.

Every test runs twice: against the claims and renewals sent as one statement (the
default) and against the reference's steps, so that the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.schema import CreateIndex, DropIndex

from scimeta import models
from scimeta.writes.runs import claims
from scimeta.writes.runs.claims import expire_leases
from scimeta.writes.transaction import transaction
from tests.conftest import GraphQLClient
from tests.runs.test_runs import create_run, events_of
from tests.support.snapshots import assert_refused

LEASE_FIELDS = """
  token worker expiresAt
  run { id name status attempt claimedBy leaseExpiresAt startedAt endedAt }
"""
CLAIM = f"""
mutation($input: ClaimRunInput!) {{ claimRun(input: $input) {{ lease {{ {LEASE_FIELDS} }} }} }}"""
RENEW = f"""
mutation($input: RenewLeaseInput!) {{
  renewLease(input: $input) {{ lease {{ {LEASE_FIELDS} }} }}
}}"""
RELEASE = """
mutation($input: ReleaseRunInput!) {
  releaseRun(input: $input) {
    run {
      id status phase attempt claimedBy leaseExpiresAt startedAt endedAt error
      metrics { nodes { name value } }
    }
  }
}"""
CLAIMS = 200
WORKERS = 10


@pytest.fixture(autouse=True, params=["one statement", "steps"])
def claim_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test against both ways of writing a claim or renewal."""
    monkeypatch.setattr(claims, "ONE_STATEMENT", request.param == "one statement")
    path: str = request.param
    return path


@pytest.fixture
def prefix() -> str:
    # no "_" or "%": the prefix is used in a LIKE pattern
    return f"claims-{uuid.uuid4().hex[:12]}-"


@pytest.fixture
async def committed_session(committed_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(committed_engine) as session:
        yield session


async def claim(
    graphql: GraphQLClient,
    worker: str,
    prefix: str,
    lease_seconds: int = 60,
    statuses: list[str] | None = None,
) -> dict[str, Any] | None:
    input: dict[str, Any] = {
        "worker": worker,
        "leaseSeconds": lease_seconds,
        "where": {"name": {"ilike": f"{prefix}%"}},
    }
    if statuses is not None:
        input["statuses"] = statuses
    data = await graphql.data(CLAIM, input=input)
    lease: dict[str, Any] | None = data["claimRun"]["lease"]
    return lease


async def claimed(
    graphql: GraphQLClient, worker: str, prefix: str, statuses: list[str] | None = None
) -> dict[str, Any]:
    lease = await claim(graphql, worker, prefix, statuses=statuses)
    assert lease is not None
    return lease


async def create_runs(graphql: GraphQLClient, prefix: str, count: int) -> list[str]:
    """Runs created one after another, so that their creation order is their name order."""
    names = [f"{prefix}{n:03d}" for n in range(count)]
    for name in names:
        await create_run(graphql, name)
    return names


async def expire(engine: AsyncEngine, *run_names: str) -> datetime:
    """Make time pass without sleeping: a direct UPDATE moves the leases' expiry a minute
    into the past, as if the workers had stalled that long. Returns the new expiry."""
    async with engine.begin() as connection:
        expired_at = (
            await connection.execute(
                text(
                    "UPDATE runs SET lease_expires_at = now() - interval '1 minute' "
                    "WHERE name = ANY(:names) RETURNING lease_expires_at"
                ),
                {"names": list(run_names)},
            )
        ).scalars()
        (moment,) = set(expired_at)
    return moment


async def sweep(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session, transaction(session, "sweeper") as writer:
        return await expire_leases(writer)


def types(events: list[Any]) -> list[str]:
    return [event["type"] for event in events]


async def test_concurrent_claimers_get_every_run_exactly_once(
    committed_graphql: GraphQLClient, committed_session: AsyncSession, prefix: str
) -> None:
    names = [f"{prefix}{n:03d}" for n in range(CLAIMS)]
    await asyncio.gather(*(create_run(committed_graphql, name) for name in names))

    async def work(worker: str) -> list[dict[str, Any]]:
        # A claimer stops at its first null: then every run left was locked by another
        # claimer's transaction, which takes it.
        leases = []
        while (lease := await claim(committed_graphql, worker, prefix)) is not None:
            leases.append(lease)
        return leases

    workers = [f"worker-{n}" for n in range(WORKERS)]
    results = await asyncio.gather(*(work(worker) for worker in workers))

    taken = [lease["run"]["name"] for leases in results for lease in leases]
    assert sorted(taken) == names
    for worker, leases in zip(workers, results, strict=True):
        assert leases, f"{worker} claimed nothing"
        for lease in leases:
            assert lease["worker"] == worker
            assert lease["run"]["claimedBy"] == worker
            assert lease["run"]["attempt"] == 1
            assert lease["run"]["status"] == "RUNNING"
    assert len({lease["token"] for leases in results for lease in leases}) == CLAIMS
    claim_events = await committed_session.execute(
        select(models.Run.name)
        .join(models.Event, models.Event.subject_id == models.Run.id)
        .where(
            models.Event.subject_type == "Run",
            models.Event.type == "claimed",
            models.Run.name.like(f"{prefix}%"),
        )
    )
    assert Counter(claim_events.scalars()) == Counter(names)


async def test_claims_come_oldest_first(committed_graphql: GraphQLClient, prefix: str) -> None:
    names = await create_runs(committed_graphql, prefix, 5)

    leases = [await claim(committed_graphql, "worker-1", prefix) for _ in names]

    assert [lease["run"]["name"] for lease in leases if lease] == names
    assert await claim(committed_graphql, "worker-1", prefix) is None


async def test_the_older_of_a_queued_and_an_expired_run_goes_first(
    committed_graphql: GraphQLClient, committed_engine: AsyncEngine, prefix: str
) -> None:
    older, newer = await create_runs(committed_graphql, prefix, 2)
    first = await claimed(committed_graphql, "worker-1", prefix)
    await claimed(committed_graphql, "worker-2", prefix)
    # the older run queued again, the newer one's lease expired: the queued one is older
    await committed_graphql.data(RELEASE, input={"lease": first["token"], "status": "PENDING"})
    await expire(committed_engine, newer)

    again = await claimed(committed_graphql, "worker-3", prefix)
    expired = await claimed(committed_graphql, "worker-3", prefix)

    assert (again["run"]["name"], again["run"]["attempt"]) == (older, 2)
    assert (expired["run"]["name"], expired["run"]["attempt"]) == (newer, 2)
    assert await claim(committed_graphql, "worker-3", prefix) is None


async def test_a_claim_makes_the_run_running_with_a_lease_from_the_database_clock(
    committed_graphql: GraphQLClient, prefix: str
) -> None:
    (name,) = await create_runs(committed_graphql, prefix, 1)

    lease = await claimed(committed_graphql, "worker-1", prefix)

    run = lease["run"]
    assert run["name"] == name
    assert uuid.UUID(lease["token"])
    assert run["leaseExpiresAt"] == lease["expiresAt"]
    started = datetime.fromisoformat(run["startedAt"])
    assert datetime.fromisoformat(lease["expiresAt"]) - started == timedelta(seconds=60)
    assert run["endedAt"] is None
    events = await events_of(committed_graphql, run["id"])
    assert types(events) == ["created", "status_changed", "claimed"]
    assert events[1]["payload"] == {"from": "PENDING", "to": "RUNNING"}
    assert events[2]["payload"] == {
        "worker": "worker-1",
        "attempt": 1,
        "leaseExpiresAt": lease["expiresAt"],
    }


@pytest.mark.parametrize(
    "name",
    ["uq_runs_lease_token", "ix_runs_pending_created_at_id", "ix_runs_retry_status_created_at_id"],
)
async def test_the_migrated_claim_index_is_the_models(
    connection: AsyncConnection, name: str
) -> None:
    # alembic's comparison ignores a partial index's WHERE, so compare the definitions
    # PostgreSQL gives for the migrated index and for the model's (in a rolled-back
    # transaction)
    definition = text("SELECT pg_get_indexdef(CAST(:name AS regclass))").bindparams(name=name)
    migrated = (await connection.execute(definition)).scalar_one()
    (index,) = (i for i in models.Run.__table__.indexes if i.name == name)
    await connection.execute(DropIndex(index))
    await connection.execute(CreateIndex(index))
    assert (await connection.execute(definition)).scalar_one() == migrated
    assert "WHERE" in migrated


async def test_the_token_is_not_a_field_of_run(committed_graphql: GraphQLClient) -> None:
    data = await committed_graphql.data('{ __type(name: "Run") { fields { name } } }')
    fields = {field["name"] for field in data["__type"]["fields"]}
    assert "claimedBy" in fields
    assert not {name for name in fields if "token" in name.lower()}


async def test_an_expired_lease_passes_the_run_on_and_goes_stale(
    committed_graphql: GraphQLClient,
    committed_engine: AsyncEngine,
    committed_session: AsyncSession,
    prefix: str,
) -> None:
    (name,) = await create_runs(committed_graphql, prefix, 1)
    first = await claimed(committed_graphql, "worker-a", prefix)
    expired_at = await expire(committed_engine, name)

    # expired but not yet taken back: the worker learns when it ended
    for document, input in (
        (RENEW, {"lease": first["token"], "leaseSeconds": 60}),
        (RELEASE, {"lease": first["token"], "status": "SUCCEEDED"}),
    ):
        error = await assert_refused(
            committed_graphql,
            committed_session,
            document,
            code="CONFLICT",
            reason="STALE_LEASE",
            says=f"expired at {expired_at.isoformat()}",
            input=input,
        )
        assert "may be claimed by another worker now" in error["message"]
        assert error["extensions"]["runId"] == first["run"]["id"]

    second = await claimed(committed_graphql, "worker-b", prefix)

    assert second["run"]["id"] == first["run"]["id"]
    assert second["run"]["attempt"] == 2
    assert second["run"]["claimedBy"] == "worker-b"
    assert second["run"]["status"] == "RUNNING"
    assert second["token"] != first["token"]
    events = await events_of(committed_graphql, first["run"]["id"])
    assert types(events) == ["created", "status_changed", "claimed", "lease_expired", "claimed"]
    assert events[3]["payload"] == {
        "worker": "worker-a",
        "attempt": 1,
        "leaseExpiredAt": expired_at.isoformat(),
    }
    assert events[4]["payload"]["worker"] == "worker-b"

    for document, input in (
        (RENEW, {"lease": first["token"], "leaseSeconds": 60}),
        (RELEASE, {"lease": first["token"], "status": "FAILED", "error": {"type": "Timeout"}}),
    ):
        await assert_refused(
            committed_graphql,
            committed_session,
            document,
            code="CONFLICT",
            reason="STALE_LEASE",
            says="may be claimed by another worker now",
            input=input,
        )
    renewed = await committed_graphql.data(
        RENEW, input={"lease": second["token"], "leaseSeconds": 60}
    )
    assert renewed["renewLease"]["lease"]["worker"] == "worker-b"


async def test_renewing_extends_the_lease(committed_graphql: GraphQLClient, prefix: str) -> None:
    await create_runs(committed_graphql, prefix, 1)
    lease = await claimed(committed_graphql, "worker-1", prefix)

    data = await committed_graphql.data(
        RENEW, input={"lease": lease["token"], "leaseSeconds": 3600}
    )

    renewed = data["renewLease"]["lease"]
    assert renewed["token"] == lease["token"]
    assert renewed["worker"] == "worker-1"
    expires_at = datetime.fromisoformat(renewed["expiresAt"])
    assert expires_at > datetime.fromisoformat(lease["expiresAt"])
    assert expires_at - datetime.fromisoformat(lease["run"]["startedAt"]) > timedelta(minutes=59)
    assert renewed["run"]["leaseExpiresAt"] == renewed["expiresAt"]
    events = await events_of(committed_graphql, lease["run"]["id"])
    assert events[-1] == {
        "type": "lease_renewed",
        "actor": events[-1]["actor"],
        "payload": {"worker": "worker-1", "leaseExpiresAt": renewed["expiresAt"]},
    }


async def test_releasing_finishes_the_run_with_its_phase_and_metrics(
    committed_graphql: GraphQLClient, committed_session: AsyncSession, prefix: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    lease = await claimed(committed_graphql, "worker-1", prefix)
    release = {
        "lease": lease["token"],
        "status": "SUCCEEDED",
        "phase": "DONE",
        "metrics": [{"key": "keff", "value": 1.0234}, {"key": "keff_std", "value": 0.0012}],
    }

    run = (await committed_graphql.data(RELEASE, input=release))["releaseRun"]["run"]

    assert (run["status"], run["phase"], run["attempt"]) == ("SUCCEEDED", "DONE", 1)
    assert run["startedAt"] == lease["run"]["startedAt"]
    assert run["endedAt"] is not None
    assert (run["claimedBy"], run["leaseExpiresAt"]) == (None, None)
    assert {m["name"]: m["value"] for m in run["metrics"]["nodes"]} == {
        "keff": 1.0234,
        "keff_std": 0.0012,
    }
    events = await events_of(committed_graphql, run["id"])
    assert types(events)[-4:] == ["phase_changed", "metrics_recorded", "status_changed", "released"]
    assert events[-1]["payload"] == {
        "worker": "worker-1",
        "status": "SUCCEEDED",
        "phase": "DONE",
        "attempt": 1,
    }

    await assert_refused(
        committed_graphql,
        committed_session,
        RELEASE,
        code="CONFLICT",
        reason="STALE_LEASE",
        says="the run was released with it",
        input=release,
    )


async def test_releasing_as_failed_keeps_the_error(
    committed_graphql: GraphQLClient, prefix: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    lease = await claimed(committed_graphql, "worker-1", prefix)
    error = {"type": "RuntimeError", "message": "openmc exited with 1"}

    data = await committed_graphql.data(
        RELEASE, input={"lease": lease["token"], "status": "FAILED", "error": error}
    )

    run = data["releaseRun"]["run"]
    assert (run["status"], run["error"], run["claimedBy"]) == ("FAILED", error, None)
    assert run["endedAt"] is not None


async def test_releasing_as_pending_queues_the_run_again(
    committed_graphql: GraphQLClient, prefix: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    lease = await claimed(committed_graphql, "worker-1", prefix)

    data = await committed_graphql.data(
        RELEASE, input={"lease": lease["token"], "status": "PENDING", "phase": "EXECUTE"}
    )

    run = data["releaseRun"]["run"]
    assert (run["status"], run["phase"], run["startedAt"], run["endedAt"]) == (
        "PENDING",
        "EXECUTE",
        None,
        None,
    )
    assert (run["claimedBy"], run["leaseExpiresAt"]) == (None, None)
    events = await events_of(committed_graphql, run["id"])
    assert events[-2]["payload"] == {"from": "RUNNING", "to": "PENDING"}
    assert events[-1]["payload"]["status"] == "PENDING"

    again = await claimed(committed_graphql, "worker-2", prefix)
    assert (again["run"]["id"], again["run"]["attempt"]) == (run["id"], 2)
    assert again["run"]["status"] == "RUNNING"


async def test_expire_leases_queues_expired_runs_and_skips_locked_ones(
    committed_graphql: GraphQLClient, committed_engine: AsyncEngine, prefix: str
) -> None:
    # leases other tests left expired would be counted too: take them back first
    await sweep(committed_engine)
    names = await create_runs(committed_graphql, prefix, 3)
    leases = [await claimed(committed_graphql, f"worker-{n}", prefix) for n in range(3)]
    await expire(committed_engine, *names)
    locked, *free = names

    async with committed_engine.connect() as holder, holder.begin():
        await holder.execute(
            select(models.Run.id).where(models.Run.name == locked).with_for_update()
        )
        assert await sweep(committed_engine) == 2

    data = await committed_graphql.data(
        "query($like: String) { runs(where: {name: {ilike: $like}}) "
        "{ nodes { id name status claimedBy leaseExpiresAt startedAt } } }",
        like=f"{prefix}%",
    )
    runs = {run["name"]: run for run in data["runs"]["nodes"]}
    for name in free:
        run = runs[name]
        assert (run["status"], run["claimedBy"], run["leaseExpiresAt"]) == ("PENDING", None, None)
        assert run["startedAt"] is None
        events = await events_of(committed_graphql, run["id"])
        assert types(events)[-2:] == ["lease_expired", "status_changed"]
        assert events[-2]["actor"] == "sweeper"
        assert events[-1]["payload"] == {"from": "RUNNING", "to": "PENDING"}
    assert (runs[locked]["status"], runs[locked]["claimedBy"]) == ("RUNNING", "worker-0")

    assert await sweep(committed_engine) == 1
    stale = await committed_graphql.execute(
        RENEW, input={"lease": leases[0]["token"], "leaseSeconds": 60}
    )
    assert stale["errors"][0]["extensions"]["reason"] == "STALE_LEASE"
    assert await sweep(committed_engine) == 0


async def test_the_claim_path_does_not_wait_for_the_sweeper(
    committed_graphql: GraphQLClient, committed_engine: AsyncEngine, prefix: str
) -> None:
    (name,) = await create_runs(committed_graphql, prefix, 1)
    await claimed(committed_graphql, "worker-a", prefix)
    await expire(committed_engine, name)

    lease = await claimed(committed_graphql, "worker-b", prefix)

    assert (lease["run"]["name"], lease["run"]["attempt"]) == (name, 2)
    assert await claim(committed_graphql, "worker-c", prefix) is None


def claim_input(**changes: Any) -> Callable[[str, str], tuple[str, dict[str, Any]]]:
    def build(prefix: str, token: str) -> tuple[str, dict[str, Any]]:
        base = {"worker": "w", "leaseSeconds": 60, "where": {"name": {"ilike": f"{prefix}%"}}}
        return CLAIM, base | changes

    return build


def renew_input(**changes: Any) -> Callable[[str, str], tuple[str, dict[str, Any]]]:
    def build(prefix: str, token: str) -> tuple[str, dict[str, Any]]:
        return RENEW, {"lease": token, "leaseSeconds": 60} | changes

    return build


def release_input(**changes: Any) -> Callable[[str, str], tuple[str, dict[str, Any]]]:
    def build(prefix: str, token: str) -> tuple[str, dict[str, Any]]:
        return RELEASE, {"lease": token, "status": "SUCCEEDED"} | changes

    return build


@pytest.mark.parametrize(
    ("build", "field", "says"),
    [
        (claim_input(leaseSeconds=0), "leaseSeconds", "leaseSeconds is 0; a lease lasts 1 to"),
        (claim_input(leaseSeconds=86_401), "leaseSeconds", "leaseSeconds is 86401"),
        (claim_input(worker=""), "worker", "worker must not be empty"),
        (claim_input(worker="w" * 256), "worker", "at most 255 fit"),
        (claim_input(statuses=[]), "statuses", "statuses is none; a claim takes runs"),
        (claim_input(statuses=["PENDING", "SUCCEEDED"]), "statuses", "statuses is PENDING, SUC"),
        (renew_input(leaseSeconds=0), "leaseSeconds", "1 to 86400 seconds"),
        (renew_input(lease="not-a-token"), "lease", "is not a lease token"),
        (release_input(lease="42"), "lease", "is not a lease token"),
        (release_input(status="RUNNING"), "status", "status RUNNING does not end a lease"),
        (release_input(status="SUCCEEDED", error={"type": "x"}), "error", "with status FAILED"),
        (release_input(error=[1]), "error", "must be a JSON object"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    committed_graphql: GraphQLClient,
    committed_session: AsyncSession,
    prefix: str,
    build: Callable[[str, str], tuple[str, dict[str, Any]]],
    field: str,
    says: str,
) -> None:
    # a claimable run and a live lease, so that only the bad value can be the reason
    await create_runs(committed_graphql, prefix, 2)
    lease = await claimed(committed_graphql, "worker-1", prefix)
    document, input = build(prefix, lease["token"])

    error = await assert_refused(
        committed_graphql,
        committed_session,
        document,
        code="BAD_USER_INPUT",
        says=says,
        input=input,
    )

    assert error["extensions"]["field"] == field


async def test_setting_a_claimed_runs_status_ends_its_lease(
    committed_graphql: GraphQLClient, prefix: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    lease = await claimed(committed_graphql, "worker-1", prefix)
    run_id = lease["run"]["id"]

    cancelled = await committed_graphql.data(
        "mutation($id: ID!) { setRunStatus(input: {id: $id, status: CANCELLED}) "
        "{ run { status claimedBy leaseExpiresAt } } }",
        id=run_id,
    )
    renewal = await committed_graphql.execute(
        RENEW, input={"lease": lease["token"], "leaseSeconds": 60}
    )
    await committed_graphql.data(
        "mutation($id: ID!) { setRunStatus(input: {id: $id, status: PENDING}) { run { id } } }",
        id=run_id,
    )
    again = await claimed(committed_graphql, "worker-2", prefix)

    assert cancelled["setRunStatus"]["run"] == {
        "status": "CANCELLED",
        "claimedBy": None,
        "leaseExpiresAt": None,
    }
    [error] = renewal["errors"]
    assert error["extensions"]["reason"] == "STALE_LEASE"
    status_changes = [
        e for e in await events_of(committed_graphql, run_id) if e["type"] == "status_changed"
    ]
    assert status_changes[1]["payload"] == {
        "from": "RUNNING",
        "to": "CANCELLED",
        "leaseEndedFor": "worker-1",
    }
    # queued again, the run is claimable: its old lease does not hold it
    assert (again["run"]["id"], again["run"]["attempt"]) == (run_id, 2)


# --- retries: claims that take FAILED and CANCELLED runs -----------------------------------

RUN_BY_NAME = "query($name: String) { runs(where: {name: {eq: $name}}) { nodes { id } } }"
SET_STATUS = """
mutation($id: ID!, $status: Status!) { setRunStatus(input: {id: $id, status: $status}) {
  run { id status } } }"""


async def ended(graphql: GraphQLClient, prefix: str, status: str, worker: str = "w0") -> str:
    """A run of `prefix` claimed once and released as `status`; returns its id."""
    lease = await claimed(graphql, worker, prefix)
    error = {"type": "RuntimeError"} if status == "FAILED" else None
    await graphql.data(
        RELEASE,
        input={"lease": lease["token"], "status": status}
        | ({"error": error} if error is not None else {}),
    )
    run_id: str = lease["run"]["id"]
    return run_id


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
async def test_a_retry_claim_moves_the_run_through_pending_to_running_at_the_next_attempt(
    committed_graphql: GraphQLClient, prefix: str, status: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    run_id = await ended(committed_graphql, prefix, status)
    # the default claim leaves it alone: a finished run is retried only when asked for
    assert await claim(committed_graphql, "worker-1", prefix) is None
    before = await events_of(committed_graphql, run_id)

    lease = await claimed(committed_graphql, "worker-1", prefix, statuses=[status])

    run = lease["run"]
    assert run["id"] == run_id
    assert (run["status"], run["attempt"], run["claimedBy"]) == ("RUNNING", 2, "worker-1")
    assert run["endedAt"] is None
    assert datetime.fromisoformat(lease["expiresAt"]) - datetime.fromisoformat(
        run["startedAt"]
    ) == timedelta(seconds=60)
    data = await committed_graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Run { status attempt error version } } }",
        id=run_id,
    )
    assert data["node"]["status"] == "RUNNING"
    assert data["node"]["attempt"] == 2
    assert data["node"]["error"] is None
    events = (await events_of(committed_graphql, run_id))[len(before) :]
    assert events == [
        {
            "type": "status_changed",
            "actor": events[0]["actor"],
            "payload": {"from": status, "to": "PENDING"},
        },
        {
            "type": "status_changed",
            "actor": events[0]["actor"],
            "payload": {"from": "PENDING", "to": "RUNNING"},
        },
        {
            "type": "claimed",
            "actor": events[0]["actor"],
            "payload": {"worker": "worker-1", "attempt": 2, "leaseExpiresAt": lease["expiresAt"]},
        },
    ]


async def test_a_retry_claim_writes_the_events_of_set_run_status_and_a_claim(
    committed_graphql: GraphQLClient, committed_session: AsyncSession, prefix: str
) -> None:
    """The same retry made by hand (setRunStatus PENDING, then a default claim) and by one
    claim with statuses [FAILED] leaves the same events and the same run."""
    by_hand_prefix, by_claim_prefix = f"{prefix}a-", f"{prefix}b-"
    await create_runs(committed_graphql, by_hand_prefix, 1)
    await create_runs(committed_graphql, by_claim_prefix, 1)
    by_hand = await ended(committed_graphql, by_hand_prefix, "FAILED")
    by_claim = await ended(committed_graphql, by_claim_prefix, "FAILED")
    counts = {
        run_id: len(await events_of(committed_graphql, run_id)) for run_id in (by_hand, by_claim)
    }

    await committed_graphql.data(SET_STATUS, id=by_hand, status="PENDING")
    hand_lease = await claimed(committed_graphql, "worker-1", by_hand_prefix)
    claim_lease = await claimed(committed_graphql, "worker-1", by_claim_prefix, ["FAILED"])

    def comparable(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        return [
            (e["type"], {k: v for k, v in e["payload"].items() if k != "leaseExpiresAt"})
            for e in events
        ]

    hand_events = (await events_of(committed_graphql, by_hand))[counts[by_hand] :]
    claim_events = (await events_of(committed_graphql, by_claim))[counts[by_claim] :]
    assert comparable(hand_events) == comparable(claim_events)
    assert types(claim_events) == ["status_changed", "status_changed", "claimed"]
    fields = ("status", "attempt", "claimedBy", "endedAt")
    assert {f: hand_lease["run"][f] for f in fields} == {f: claim_lease["run"][f] for f in fields}
    # the failure left behind is stored the same way (setRunStatus keeps a JSON null)
    stored = await committed_session.execute(
        text("SELECT name, error IS NULL, error::text FROM runs WHERE name LIKE :like"),
        {"like": f"{prefix}%"},
    )
    (_, *hand_error), (_, *claim_error) = sorted(tuple(row) for row in stored)
    assert hand_error == claim_error


async def test_two_claimers_racing_for_one_failed_run_one_wins(
    committed_graphql: GraphQLClient, prefix: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    run_id = await ended(committed_graphql, prefix, "FAILED")

    first, second = await asyncio.gather(
        claim(committed_graphql, "worker-1", prefix, statuses=["FAILED"]),
        claim(committed_graphql, "worker-2", prefix, statuses=["FAILED"]),
    )

    leases = [lease for lease in (first, second) if lease is not None]
    assert len(leases) == 1
    assert (leases[0]["run"]["id"], leases[0]["run"]["attempt"]) == (run_id, 2)
    events = await events_of(committed_graphql, run_id)
    assert types(events).count("claimed") == 2  # the first claim and the one retry


async def test_the_loser_of_a_race_for_a_failed_run_gets_the_next_eligible_run(
    committed_graphql: GraphQLClient, prefix: str
) -> None:
    await create_runs(committed_graphql, prefix, 1)
    failed = await ended(committed_graphql, prefix, "FAILED")
    (queued,) = await create_runs(committed_graphql, f"{prefix}q-", 1)

    leases = await asyncio.gather(
        *(
            claim(committed_graphql, f"worker-{n}", prefix, statuses=["FAILED", "PENDING"])
            for n in range(3)
        )
    )

    taken = sorted(
        (lease["run"]["id"], lease["run"]["attempt"]) for lease in leases if lease is not None
    )
    queued_id = (await committed_graphql.data(RUN_BY_NAME, name=queued))["runs"]["nodes"][0]["id"]
    assert taken == sorted([(failed, 2), (queued_id, 1)])
    assert leases.count(None) == 1


async def test_concurrent_retry_claimers_take_every_failed_run_exactly_once(
    committed_graphql: GraphQLClient, committed_session: AsyncSession, prefix: str
) -> None:
    names = await create_runs(committed_graphql, prefix, 12)
    for name in names:
        await ended(committed_graphql, prefix, "FAILED", worker=name)

    async def work(worker: str) -> list[dict[str, Any]]:
        leases = []
        while lease := await claim(committed_graphql, worker, prefix, statuses=["FAILED"]):
            leases.append(lease)
        return leases

    results = await asyncio.gather(*(work(f"retrier-{n}") for n in range(4)))

    taken = [lease["run"]["name"] for leases in results for lease in leases]
    assert sorted(taken) == names
    assert {lease["run"]["attempt"] for leases in results for lease in leases} == {2}
    claims_per_run = await committed_session.execute(
        select(models.Run.name)
        .join(models.Event, models.Event.subject_id == models.Run.id)
        .where(
            models.Event.subject_type == "Run",
            models.Event.type == "claimed",
            models.Run.name.like(f"{prefix}%"),
        )
    )
    assert Counter(claims_per_run.scalars()) == Counter({name: 2 for name in names})


# Bounds, not pauses: a claim that skips a locked row answers at once; one that waited
# for it would wait until the holder ends, which the test does only after the claim.
NO_WAIT = 10.0


@pytest.mark.parametrize("statuses", [None, ["FAILED"]])
async def test_a_claim_does_not_wait_for_a_run_another_transaction_holds(
    committed_graphql: GraphQLClient,
    committed_engine: AsyncEngine,
    prefix: str,
    statuses: list[str] | None,
) -> None:
    names = await create_runs(committed_graphql, prefix, 2)
    if statuses is not None:
        for name in names:
            await ended(committed_graphql, prefix, "FAILED", worker=name)
    held, free = names

    async with committed_engine.connect() as holder, holder.begin():
        await holder.execute(select(models.Run.id).where(models.Run.name == held).with_for_update())
        lease = await asyncio.wait_for(
            claim(committed_graphql, "worker-1", prefix, statuses=statuses), NO_WAIT
        )
        assert lease is not None
        assert lease["run"]["name"] == free
        assert (
            await asyncio.wait_for(
                claim(committed_graphql, "worker-2", prefix, statuses=statuses), NO_WAIT
            )
            is None
        )

    # the holder is gone: the run it held is claimable again
    assert (await claimed(committed_graphql, "worker-3", prefix, statuses))["run"]["name"] == held
