"""The executable GraphQL schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from scimeta.errors import ServiceUnavailable, add_code
from scimeta.faults import RESTARTING, UNREACHABLE, WRITE_REASONS, WriteHealth
from scimeta.live.shared import SharedEventExecution
from scimeta.liveness import liveness_of
from scimeta.operation import OperationExtension
from scimeta.resolvers.admission import AdmissionExtension
from scimeta.resolvers.client_errors import client_errors_behind
from scimeta.resolvers.compiled import CompiledReadsExtension
from scimeta.resolvers.limits import QueryLimitsExtension, limits_of, refuse_with_status
from scimeta.resolvers.mutations import Mutation
from scimeta.resolvers.production import ProductionExtension, production_of, without_suggestion
from scimeta.resolvers.query import Query
from scimeta.resolvers.subscription import Subscription
from scimeta.schema import chemistry, core, jobs, runs, studies
from scimeta.schema.node import node_types
from scimeta.schema.scalars import SCALARS
from scimeta.strawberry_internals import forget_collected_sub_fields


class WriteHealthExtension(SchemaExtension):
    """Notes that the database took a write: a mutation that answered without errors shows
    that it is not full or read-only (any more)."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        execution = self.execution_context
        health = execution.context.write_health
        result = execution.result
        if (
            isinstance(health, WriteHealth)
            and execution.operation_type is OperationType.MUTATION
            and result is not None
            and not result.errors
        ):
            health.succeeded()


# Every node type is in the schema so that `node(id)` can return it even where no field
# does: the type of each declared entity (`scimeta.models.ownership`) GraphQL reads.
NODE_TYPES = node_types(chemistry, core, jobs, runs, studies)


class PerEventMemoExecutionContext(SharedEventExecution, StrawberryGraphQLCoreExecutionContext):
    """Gives each event of a subscription a memo of its own.

    graphql-core (3.3) executes each subscription event with a shallow copy of the
    subscription's executor, so all events share the memo of collected sub-fields. Its
    keys are the ids of each event's new field lists, so no event reuses another's
    entries, and every message adds entries that live as long as the subscription: memory
    and garbage-collection pauses grow with every message sent.
    """

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        forget_collected_sub_fields(executor)
        return executor


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context is not None else None
        limits = limits_of(context)
        executing = execution_context is not None and execution_context.result is not None
        production = production_of(context)
        for error, replacement in zip(errors, client_errors_behind(errors, limits), strict=True):
            if replacement is not None:
                error.message = replacement.message
                error.extensions = replacement.extensions
                if isinstance(replacement, ServiceUnavailable):
                    _remember_failed_write(context, replacement)
            add_code(error, executing=executing)
            if production:
                without_suggestion(error)
        refuse_with_status(errors, context)


def _remember_failed_write(context: Any, error: ServiceUnavailable) -> None:
    reason = (error.extensions or {}).get("reason")
    if reason in (UNREACHABLE, RESTARTING):
        # other pooled connections may be as dead as the one that failed
        sessionmaker = getattr(context, "sessionmaker", None)
        liveness = liveness_of(getattr(sessionmaker, "kw", {}).get("bind"))
        if liveness is not None:
            liveness.lost()
    health = getattr(context, "write_health", None)
    if isinstance(health, WriteHealth) and reason in WRITE_REASONS:
        health.failed(reason)


# Frontends and workers send the same few documents again and again: parsing and
# validating each once saves most of a small query's time. The caches live at module
# level in strawberry and are shared by all requests.
DOCUMENT_CACHE_SIZE = 1024

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map=SCALARS),
    types=NODE_TYPES,
    execution_context_class=PerEventMemoExecutionContext,
    extensions=[
        OperationExtension,
        WriteHealthExtension,
        partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
        # after the validation cache: it measures valid documents only
        QueryLimitsExtension,
        ProductionExtension,
        # outside the compiled statement: its time counts against the operation's
        AdmissionExtension,
        # after the limits: a compiled query is one that passed them
        CompiledReadsExtension,
    ],
)
