"""A service event reaches `eventAdded` subscribers of its type, live and on replay, with
its level and no subject."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import GraphQLClient
from tests.live.conftest import LiveServer, Subscriber

EVENT_ADDED = """
subscription($types: [String!], $after: Long) {
  eventAdded(types: $types, afterSequence: $after) {
    sequence type level subjectType subjectId payload
  }
}"""
LOG = """
mutation Log($type: String!, $level: EventLevel, $payload: JSON) {
  appendEvent(input: {type: $type, level: $level, payload: $payload}) {
    events { sequence }
  }
}"""


async def test_a_service_event_reaches_subscribers_of_its_type(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    kind = f"service_error_{uuid.uuid4().hex[:8]}"
    first = await http.data(LOG, type=kind, level="ERROR", payload={"n": 1})
    (logged,) = first["appendEvent"]["events"]
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        live = await subscriber.subscribe(EVENT_ADDED, types=[kind])
        replay = await subscriber.subscribe(EVENT_ADDED, types=[kind], after=logged["sequence"] - 1)
        # the replay sends the event logged before it, the live one only what follows
        replayed = (await subscriber.next(replay))["eventAdded"]
        assert replayed["sequence"] == logged["sequence"]
        await http.data(LOG, type="something_else", level="INFO")
        second = await http.data(LOG, type=kind, level="WARNING", payload={"n": 2})
        (later,) = second["appendEvent"]["events"]

        for operation in (live, replay):
            event = (await subscriber.next(operation))["eventAdded"]
            assert event == {
                "sequence": later["sequence"],
                "type": kind,
                "level": "WARNING",
                "subjectType": None,
                "subjectId": None,
                "payload": {"n": 2},
            }
            assert subscriber.pending(operation) == 0
