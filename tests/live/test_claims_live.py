"""Claims, renewals, expiries and releases as dashboards see them: each writes an event
that reaches the run's subscribers. Each test runs against claims and renewals sent as one
statement and against the reference's steps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.writes.runs import claims
from tests.conftest import GraphQLClient
from tests.live.conftest import LiveServer, Subscriber, serving
from tests.live.test_subscriptions import RUN_CHANGED, new_run, newest_sequence, row_id

CLAIM = """
mutation($name: String!, $seconds: Int!) {
  claimRun(input: {worker: "w1", leaseSeconds: $seconds, where: {name: {eq: $name}}}) {
    lease { token expiresAt run { id attempt claimedBy } }
  }
}"""
RENEW = """
mutation($lease: String!) { renewLease(input: {lease: $lease, leaseSeconds: 600}) {
  lease { expiresAt } } }"""
RELEASE = """
mutation($lease: String!) {
  releaseRun(input: {lease: $lease, status: SUCCEEDED, phase: DONE}) { run { id status } }
}"""


@pytest.fixture(autouse=True, params=["one statement", "steps"])
def claim_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(claims, "ONE_STATEMENT", request.param == "one statement")
    path: str = request.param
    return path


async def claim(http: GraphQLClient, run: dict[str, Any], seconds: int = 600) -> dict[str, Any]:
    lease: dict[str, Any] = (await http.data(CLAIM, name=run["name"], seconds=seconds))["claimRun"][
        "lease"
    ]
    assert lease["run"]["id"] == run["id"]
    return lease


async def test_a_claim_its_renewal_and_its_release_reach_the_runs_subscriber(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    run = await new_run(http)
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        operation = await subscriber.subscribe(
            RUN_CHANGED, id=run["id"], after=await newest_sequence(live_engine)
        )
        lease = await claim(http, run)
        await http.data(RENEW, lease=lease["token"])
        await http.data(RELEASE, lease=lease["token"])
        changes = [(await subscriber.next(operation))["runChanged"] for _ in range(6)]
        assert subscriber.pending(operation) == 0

    assert [(c["event"]["type"], c["event"]["payload"].get("to")) for c in changes] == [
        ("status_changed", "RUNNING"),
        ("claimed", None),
        ("lease_renewed", None),
        ("phase_changed", "DONE"),
        ("status_changed", "SUCCEEDED"),
        ("released", None),
    ]
    assert changes[1]["event"]["payload"]["worker"] == "w1"
    assert changes[-1]["run"]["status"] == "SUCCEEDED"


async def test_the_sweeper_puts_an_expired_run_back_and_subscribers_hear_of_it(
    live_engine: AsyncEngine,
) -> None:
    async with (
        serving(live_engine, lease_sweep_seconds=0.05) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        http = GraphQLClient(client)
        run = await new_run(http)
        await claim(http, run)
        async with Subscriber.connect(server.ws_url) as subscriber:
            operation = await subscriber.subscribe(
                RUN_CHANGED,
                id=run["id"],
                types=["lease_expired", "status_changed"],
                after=await newest_sequence(live_engine),
            )
            # the worker went silent an hour ago: its lease ran out then
            async with live_engine.begin() as connection:
                await connection.execute(
                    text(
                        "UPDATE runs SET lease_expires_at = now() - interval '1 hour' "
                        "WHERE id = :id"
                    ),
                    {"id": int(row_id(run["id"]))},
                )
            expired = (await subscriber.next(operation))["runChanged"]
            requeued = (await subscriber.next(operation))["runChanged"]

    assert expired["event"]["type"] == "lease_expired"
    assert expired["event"]["payload"]["worker"] == "w1"
    assert expired["event"]["payload"]["attempt"] == 1
    assert requeued["event"]["payload"] == {"from": "RUNNING", "to": "PENDING"}
    assert requeued["run"]["status"] == "PENDING"
