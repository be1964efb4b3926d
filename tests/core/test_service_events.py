"""Service events (seed 002 `log_event` of the service itself): an event about no node,
with a level, stored, filtered by level, and seen and written only by callers with a
grant on everything.

Uses the authorization tests' world: a database of this module's own seeded with two
projects and studies, and tokens made per test inside its rolled-back transaction.
"""

from __future__ import annotations

from typing import Any

import pytest

from scimeta.models import Role
from tests.conftest import GraphQLClient
from tests.test_authorization import Tokens, engine, tokens, world

# the tests use tests.test_authorization's seed, which creates a molecule by SMILES
pytestmark = pytest.mark.chemistry

__all__ = ["engine", "tokens", "world"]

LOG = """
mutation Log($type: String!, $level: EventLevel, $payload: JSON) {
  appendEvent(input: {type: $type, level: $level, payload: $payload}) {
    events { sequence subjectType subjectId level type payload }
  }
}
"""
EVENTS = """
query Events($where: EventWhere) {
  events(where: $where) {
    totalCount
    nodes { sequence subjectType subjectId level type }
    groups(by: [LEVEL]) { key { level } count }
  }
}
"""


async def log(graphql: GraphQLClient, type: str, level: str | None) -> dict[str, Any]:
    data = await graphql.data(LOG, type=type, level=level, payload={"detail": type})
    (event,) = data["appendEvent"]["events"]
    event_data: dict[str, Any] = event
    return event_data


async def test_a_service_event_is_stored_without_a_subject_and_filtered_by_level(
    graphql: GraphQLClient,
) -> None:
    error = await log(graphql, "service_error", "ERROR")
    info = await log(graphql, "service_metric", "INFO")
    plain = await log(graphql, "service_note", None)

    assert error["subjectType"] is None and error["subjectId"] is None
    assert (error["level"], info["level"], plain["level"]) == ("ERROR", "INFO", None)
    assert error["payload"] == {"detail": "service_error"}

    errors = (await graphql.data(EVENTS, where={"level": {"eq": "ERROR"}}))["events"]
    assert [event["sequence"] for event in errors["nodes"]] == [error["sequence"]]
    serious = await graphql.data(EVENTS, where={"level": {"in": ["ERROR", "WARNING"]}})
    assert serious["events"]["totalCount"] == 1
    unlevelled = await graphql.data(
        EVENTS,
        where={"level": {"isNull": True}, "type": {"eq": "service_note"}},
    )
    assert [e["sequence"] for e in unlevelled["events"]["nodes"]] == [plain["sequence"]]
    every = (await graphql.data(EVENTS))["events"]
    groups = {group["key"]["level"]: group["count"] for group in every["groups"]}
    assert groups["ERROR"] == 1 and groups["INFO"] == 1
    # the seeded events have no level
    assert groups[None] == every["totalCount"] - 2


@pytest.mark.parametrize(
    ("role", "scope"),
    [(Role.ADMIN, "project"), (Role.ADMIN, "study"), (Role.CONTRIBUTOR, "project")],
)
async def test_a_scoped_caller_neither_writes_nor_sees_service_events(
    graphql: GraphQLClient, tokens: Tokens, role: Role, scope: str
) -> None:
    logged = await log(graphql, "service_error", "ERROR")
    caller = await tokens.caller(role, scope)
    before = (await graphql.data(EVENTS))["events"]["totalCount"]

    error = await caller.refused(LOG, type="intruder", level="ERROR")

    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert (await graphql.data(EVENTS))["events"]["totalCount"] == before
    seen = (await caller.data(EVENTS))["events"]["nodes"]
    assert seen, "the caller sees the events of its scope"
    assert logged["sequence"] not in {event["sequence"] for event in seen}
    assert all(event["subjectId"] is not None for event in seen)
    assert (await caller.data(EVENTS, where={"level": {"eq": "ERROR"}}))["events"][
        "totalCount"
    ] == 0


async def test_a_caller_with_a_grant_on_everything_writes_and_reads_service_events(
    tokens: Tokens,
) -> None:
    runner = await tokens.caller(Role.RUNNER, "global")
    viewer = await tokens.caller(Role.VIEWER, "global")

    written = (await runner.data(LOG, type="service_metric", level="INFO"))["appendEvent"]
    (event,) = written["events"]

    found = await viewer.data(EVENTS, where={"level": {"eq": "INFO"}})
    assert [e["sequence"] for e in found["events"]["nodes"]] == [event["sequence"]]
    refused = await viewer.refused(LOG, type="service_metric", level="INFO")
    assert refused["extensions"]["code"] == "FORBIDDEN"
