"""Executing many events of one subscription keeps no state from one event to the next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graphql import parse
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from scimeta import models
from scimeta.resolvers.schema import PerEventMemoExecutionContext, schema
from scimeta.resolvers.subscription import RunChange
from scimeta.schema.scalars import Long

DOCUMENT = parse("subscription { runChanged { sequence event { type actor } } }")


def change(sequence: int) -> RunChange:
    """An event of the subscription: what its source yields."""
    event = models.Event(
        sequence=sequence,
        at=datetime.now(UTC),
        subject_type="Run",
        subject_id=1,
        type="noted",
        actor="test",
        payload={},
    )
    return RunChange(sequence=Long(sequence), event=event, run=None)  # type: ignore[arg-type]


def memo_after_events(context_class: type[Any], events: int) -> tuple[int, list[Any]]:
    executor = context_class.build(schema._schema, DOCUMENT)
    results = []
    for sequence in range(1, events + 1):
        per_event = executor.build_per_event_executor(change(sequence))
        results.append(per_event.execute_operation())
    return len(executor._relevant_sub_fields), results


def test_each_event_has_a_memo_of_its_own_and_the_subscription_keeps_none() -> None:
    kept, results = memo_after_events(PerEventMemoExecutionContext, 50)
    # the library's own executor keeps entries for every event
    kept_by_default, _ = memo_after_events(StrawberryGraphQLCoreExecutionContext, 50)

    assert kept == 0
    assert kept_by_default >= 50
    assert [result.data["runChanged"]["sequence"] for result in results] == list(range(1, 51))
    assert all(result.errors is None for result in results)
