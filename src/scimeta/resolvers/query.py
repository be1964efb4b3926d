"""The root query: `node`, `nodes`, and one list per top-level entity."""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeAlias

import strawberry
from strawberry import relay
from strawberry.types import Info

from scimeta import models
from scimeta.loaders import Loaders
from scimeta.loaders.batch import LoaderSource
from scimeta.schema.chemistry import Batch, Molecule
from scimeta.schema.core import Event
from scimeta.schema.jobs import Project
from scimeta.schema.pagination import Connection, keyset_page
from scimeta.schema.runs import Run
from scimeta.schema.studies import Study


class QueryContext(LoaderSource, Protocol):
    @property
    def loaders(self) -> Loaders: ...


QueryInfo: TypeAlias = Info[QueryContext, Any]

First: TypeAlias = Annotated[
    int | None, strawberry.argument(description="Page size (default 50, at most 500).")
]
After: TypeAlias = Annotated[
    str | None, strawberry.argument(description="Return items after this cursor.")
]


@strawberry.type(description="Read the metadata.")
class Query:
    node: relay.Node = relay.node(description="Any entity by its global id.")
    nodes: list[relay.Node] = relay.node(description="Entities by their global ids.")

    @strawberry.field(description="Studies, in creation order.")
    async def studies(
        self, info: QueryInfo, first: First = None, after: After = None
    ) -> Connection[Study]:
        return await keyset_page(info.context, models.Study, first=first, after=after)

    @strawberry.field(description="Projects, in creation order.")
    async def projects(
        self, info: QueryInfo, first: First = None, after: After = None
    ) -> Connection[Project]:
        return await keyset_page(info.context, models.Project, first=first, after=after)

    @strawberry.field(description="Runs, in creation order.")
    async def runs(
        self, info: QueryInfo, first: First = None, after: After = None
    ) -> Connection[Run]:
        return await keyset_page(info.context, models.Run, first=first, after=after)

    @strawberry.field(description="Molecules, in creation order.")
    async def molecules(
        self, info: QueryInfo, first: First = None, after: After = None
    ) -> Connection[Molecule]:
        return await keyset_page(info.context, models.Molecule, first=first, after=after)

    @strawberry.field(description="Batches, in creation order.")
    async def batches(
        self, info: QueryInfo, first: First = None, after: After = None
    ) -> Connection[Batch]:
        return await keyset_page(info.context, models.Batch, first=first, after=after)

    @strawberry.field(description="The event log, in sequence order.")
    async def events(
        self, info: QueryInfo, first: First = None, after: After = None
    ) -> Connection[Event]:
        return await keyset_page(info.context, models.Event, first=first, after=after)
