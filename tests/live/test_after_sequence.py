"""`afterSequence` past the newest event: taken like a subscription from now, whoever
asks, so that no answer tells how long the event log is (others' events included)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import GraphQLClient
from tests.live.conftest import LiveServer, Subscriber
from tests.live.test_subscriptions import RUN_CHANGED, SET_RUN_PHASE, new_run, newest_sequence


async def test_an_after_sequence_past_the_newest_event_starts_live_and_tells_nothing(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine
) -> None:
    run = await new_run(http)
    newest = await newest_sequence(live_engine)
    probes = [newest, newest + 1, newest + 1000, 2**62]
    async with Subscriber.connect(live_server.ws_url) as subscriber:
        operations = [
            await subscriber.subscribe(RUN_CHANGED, id=run["id"], after=after) for after in probes
        ]
        await live_server.hub.wait_for_subscriptions(len(probes))
        await http.data(SET_RUN_PHASE, id=run["id"], phase="EXECUTE")
        await http.data(SET_RUN_PHASE, id=run["id"], phase="EXTRACT")
        # a subscription past the newest event starts live when it has read the newest
        # sequence, which may be just before or just after the first change: it gets
        # both changes, or the second, and no error naming the log's length
        phases = []
        for operation in operations:
            first = (await subscriber.next(operation))["runChanged"]
            assert first["sequence"] > newest
            seen = [first["event"]["payload"]["to"]]
            if seen == ["EXECUTE"]:
                second = (await subscriber.next(operation))["runChanged"]
                seen.append(second["event"]["payload"]["to"])
            phases.append(seen)

    assert phases[0] == ["EXECUTE", "EXTRACT"]
    for seen in phases[1:]:
        assert seen in (["EXECUTE", "EXTRACT"], ["EXTRACT"])
