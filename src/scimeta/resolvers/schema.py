"""The executable GraphQL schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from scimeta.errors import add_code
from scimeta.resolvers.mutations import Mutation
from scimeta.resolvers.query import Query
from scimeta.resolvers.subscription import Subscription
from scimeta.schema import chemistry, core, jobs, runs, studies
from scimeta.schema.scalars import SCALARS


class OperationScopeExtension(SchemaExtension):
    """Gives each operation its own session and loaders, and closes the session once the
    operation is done."""

    async def on_operation(self) -> AsyncIterator[None]:
        context: Any = self.execution_context.context
        token = context.begin_operation()
        try:
            yield
        finally:
            await context.end_operation(token)


# Every node type is listed so that `node(id)` can return it even where no field does.
NODE_TYPES = [
    chemistry.AtomicProperty,
    chemistry.Batch,
    chemistry.BatchItem,
    chemistry.Calculation,
    chemistry.Molecule,
    core.Event,
    core.File,
    core.Metric,
    core.MetricKey,
    jobs.Job,
    jobs.JobFile,
    jobs.Project,
    runs.AgentOutput,
    runs.Chunk,
    runs.Run,
    runs.RunArtifact,
    runs.Trajectory,
    studies.MovementCycle,
    studies.Participant,
    studies.Recording,
    studies.RecordingChannel,
    studies.Study,
    studies.Synchronization,
]


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        executing = execution_context is not None and execution_context.result is not None
        for error in errors:
            add_code(error, executing=executing)


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
    extensions=[
        OperationScopeExtension,
        partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
    ],
)
