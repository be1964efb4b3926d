"""Time and turns: every operation runs within a deadline, and heavy ones take turns.

The statement timeout bounds each SQL statement, not the Python around them: an
operation of many statements, or one that serialises many rows, could otherwise run for
as long as it likes. Each operation (a query or mutation over HTTP or a WebSocket; not a
subscription, which lives as long as its client wants) is cancelled at
`Limits.operation_timeout_seconds` and answered with QUERY_TIMEOUT. Its session is closed
and its transaction rolled back as after any other failure.

One worker process serves everyone from one event loop and one connection pool, so a few
expensive queries could make every light one wait. An operation whose estimated cost
(`scimeta.resolvers.limits`) reaches `Limits.heavy_cost` waits for one of
`Limits.max_heavy_operations` turns; lighter ones never wait. A heavy operation that gets
no turn before its deadline is answered SERVICE_UNAVAILABLE (reason BUSY, retryable).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from graphql import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from scimeta.errors import QueryTimeout, ServiceUnavailable
from scimeta.faults import BUSY, RETRY_AFTER_SECONDS
from scimeta.operation_limits import Limits
from scimeta.resolvers.limits import app_state, cached_measure, limits_of
from scimeta.strawberry_internals import graphql_schema


class Turns:
    """The turns of heavy operations in one worker process."""

    def __init__(self, limits: Limits) -> None:
        self.heavy_cost = limits.heavy_cost
        self.size = limits.max_heavy_operations
        self._free = asyncio.Semaphore(max(self.size, 1))
        self.waiting = 0

    def is_heavy(self, cost: int | None) -> bool:
        return self.size > 0 and cost is not None and cost >= self.heavy_cost

    @contextlib.asynccontextmanager
    async def turn(self, cost: int | None) -> AsyncIterator[None]:
        if not self.is_heavy(cost):
            yield
            return
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._free.release()


@contextlib.asynccontextmanager
async def bounded(limits: Limits, turns: Turns | None, cost: int | None) -> AsyncIterator[None]:
    """Run the block within the operation timeout, after a turn if it is heavy; raises
    QueryTimeout or ServiceUnavailable (BUSY) instead of TimeoutError."""
    seconds = limits.operation_timeout_seconds or None
    started = False
    try:
        async with asyncio.timeout(seconds):
            if turns is None:
                started = True
                yield
            else:
                async with turns.turn(cost):
                    started = True
                    yield
    except TimeoutError:
        if not started:
            raise ServiceUnavailable(
                f"Service unavailable: the server is busy with other expensive queries "
                f"and this one (estimated cost {cost}) got no turn within "
                f"{limits.operation_timeout_seconds:g} s. Retry in "
                f"{RETRY_AFTER_SECONDS} s or more, or ask for less (smaller pages, fewer "
                "nested lists) to be served at once.",
                reason=BUSY,
                retryable=True,
            ) from None
        raise QueryTimeout(
            f"The operation ran longer than {limits.operation_timeout_seconds:g} s, the "
            "most this server allows, and was cancelled; nothing it was writing was "
            "kept. Ask for less (smaller pages, fewer nested lists, a narrower where), "
            "or split the work.",
            seconds=limits.operation_timeout_seconds,
        ) from None


def operation_cost(execution: Any) -> int | None:
    """The estimated cost of the operation being executed (measured once before, and
    remembered)."""
    document = execution.graphql_document
    if document is None:
        return None
    operation = get_operation_ast(document, execution.operation_name)
    if operation is None:
        return None
    limits = limits_of(execution.context)
    measures = cached_measure(
        graphql_schema(execution.schema),
        execution.query or "",
        document,
        operation,
        execution.variables,
        limits,
    )
    return measures.cost


class AdmissionExtension(SchemaExtension):
    """Bounds the execution of each query and mutation by the operation timeout, with
    heavy ones taking turns (`bounded`). Subscriptions are not bound."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.operation_type is OperationType.SUBSCRIPTION or execution.pre_execution_errors:
            yield
            return
        context = execution.context
        turns = app_state(context, "turns")
        async with bounded(limits_of(context), turns, operation_cost(execution)):
            yield
