"""Many subscribers of one process pushing one change read the database as one: the
statements a change costs do not grow with the number of subscribers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scimeta import models
from scimeta.server.database import create_engine
from scimeta.writes.transaction import transaction
from tests.conftest import GraphQLClient, StatementCounter
from tests.live.conftest import LiveServer, Subscriber
from tests.live.test_subscriptions import (
    CREATE_STUDY,
    new_run,
    newest_sequence,
    row_id,
    unique,
)

WATCH = """
subscription($id: ID, $after: Long) {
  runChanged(id: $id, afterSequence: $after) {
    sequence event { type } run { id name status study { name } }
  }
}"""


@contextlib.asynccontextmanager
async def counting(engine: AsyncEngine) -> AsyncIterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", counter)


async def note(url: str, run_id: int) -> None:
    """An event about the run, committed from outside the server (whose statements are
    the ones counted)."""
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session, transaction(session, "test") as writer:
            writer.event(await writer.get(models.Run, run_id), "noted")
    finally:
        await engine.dispose()


async def statements_to_push_one_change(
    server: LiveServer, http: GraphQLClient, engine: AsyncEngine, url: str, subscribers: int
) -> int:
    study = (await http.data(CREATE_STUDY, name=unique("fan-out")))["createStudy"]["study"]
    run = await new_run(http, study["id"])
    run_id = int(row_id(run["id"]))
    async with Subscriber.connect(server.ws_url) as subscriber:
        after = await newest_sequence(engine)
        operations = [
            await subscriber.subscribe(WATCH, id=run["id"], after=after) for _ in range(subscribers)
        ]
        # the first change settles every subscription in live delivery
        await note(url, run_id)
        for operation in operations:
            await subscriber.next(operation)
        async with counting(engine) as counter:
            await note(url, run_id)
            for operation in operations:
                change = (await subscriber.next(operation))["runChanged"]
                assert change["run"]["name"] == run["name"]
                assert change["run"]["study"] == {"name": study["name"]}
    return counter.count


async def test_a_change_costs_the_same_statements_for_one_subscriber_or_twenty(
    live_server: LiveServer, http: GraphQLClient, live_engine: AsyncEngine, live_url: str
) -> None:
    one = await statements_to_push_one_change(live_server, http, live_engine, live_url, 1)
    twenty = await statements_to_push_one_change(live_server, http, live_engine, live_url, 20)
    # the run, then its study
    assert (one, twenty) == (2, 2)
