"""Files, metrics and events: the types every domain shares."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.schema.node import Entity, LoaderInfo, load_nodes
from scimeta.schema.relations import one


@strawberry.type(description="Metadata of a file on disk or in object storage.")
class File(Entity):
    __model__ = models.File

    path: str = strawberry.field(description="Path or URI of the file.")
    name: str = strawberry.field(description="File name.")
    mimetype: str | None = strawberry.field(description="MIME type.")
    size_bytes: int | None = strawberry.field(description="Size in bytes.")
    checksum: str | None = strawberry.field(description="Checksum of the content.")
    checksum_algorithm: str | None = strawberry.field(description="Checksum algorithm.")
    modified_at: datetime | None = strawberry.field(description="Last modification time.")
    annotation: str | None = strawberry.field(description="Free-text annotation.")
    content_flag: int | None = strawberry.field(description="Content flag of the file type.")
    sub_type: int | None = strawberry.field(description="Sub-type of the file type.")
    imported_from: str | None = strawberry.field(description="Where an import came from.")
    imported_at: datetime | None = strawberry.field(description="When it was imported.")


@strawberry.type(description="A metric name in the catalogue, with its meaning and unit.")
class MetricKey(Entity):
    __model__ = models.MetricKey

    name: str = strawberry.field(description="The metric's name.")
    description: str | None = strawberry.field(description="What the metric measures.")
    unit: str | None = strawberry.field(description="Default unit.")


@strawberry.type(description="A named value (KPI) on a job, run, chunk, recording or calculation.")
class Metric(Entity):
    __model__ = models.Metric

    value: float | None = strawberry.field(description="Numeric value.")
    text: str | None = strawberry.field(description="Text value.")
    unit: str | None = strawberry.field(description="Unit of this value.")

    @strawberry.field(description="The metric's catalogue entry.")
    async def key(self, root: strawberry.Parent[models.Metric], info: LoaderInfo) -> MetricKey:
        return await one(info, models.MetricKey, root.key_id)

    @strawberry.field(description="The metric's name (its key's name).")
    async def name(self, root: strawberry.Parent[models.Metric], info: LoaderInfo) -> str:
        key: models.MetricKey = await one(info, models.MetricKey, root.key_id)
        return key.name


@strawberry.type(description="An entry of the append-only audit log.")
class Event(relay.Node):
    id: relay.NodeID[int]
    sequence: int = strawberry.field(description="Position in the log; strictly increasing.")
    at: datetime = strawberry.field(description="When it happened.")
    subject_type: str = strawberry.field(description="Type of the node the event is about.")
    type: str = strawberry.field(description="What happened.")
    actor: str | None = strawberry.field(description="User, worker or agent that caused it.")
    payload: JSON = strawberry.field(description="Details, as JSON.")

    @classmethod
    def is_type_of(cls, obj: Any, info: LoaderInfo) -> bool:
        return isinstance(obj, models.Event)

    @strawberry.field(description="Global id of the node the event is about.")
    def subject_id(self, root: strawberry.Parent[models.Event]) -> relay.GlobalID:
        return relay.GlobalID(root.subject_type, str(root.subject_id))

    @classmethod
    async def resolve_nodes(
        cls, *, info: LoaderInfo, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return await load_nodes(models.Event, info, node_ids, required=required)
