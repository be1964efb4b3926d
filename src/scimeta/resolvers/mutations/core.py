"""Mutations every domain shares: metrics, events, deletes; and the shared inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.auth.policy import Action
from scimeta.errors import BadUserInput
from scimeta.models import Entity
from scimeta.resolvers.mutations.base import WriteInfo, capped, json_object, row_id, write
from scimeta.schema.core import Event, MetricKey
from scimeta.schema.enums import EventLevel
from scimeta.schema.scalars import Long
from scimeta.writes import core as writes
from scimeta.writes.core import EventSpec, FileSpec, MetricValue, entity_model

MAX_EVENTS = 1_000


@strawberry.input(description="Metadata of a file that stays where it is; never its bytes.")
class FileInput:
    path: str = strawberry.field(description="Path or URI of the file.")
    name: str | None = strawberry.field(
        default=None, description="File name; the last part of the path if not given."
    )
    mimetype: str | None = strawberry.field(default=None, description="MIME type.")
    size_bytes: Long | None = strawberry.field(default=None, description="Size in bytes.")
    checksum: str | None = strawberry.field(default=None, description="Checksum of the content.")
    checksum_algorithm: str | None = strawberry.field(
        default=None, description="Checksum algorithm; sha256 when a checksum is given."
    )
    modified_at: datetime | None = strawberry.field(
        default=None, description="Last modification time."
    )
    annotation: str | None = strawberry.field(default=None, description="Free-text annotation.")
    content_flag: int | None = strawberry.field(
        default=None, description="Content flag of the file type."
    )
    sub_type: int | None = strawberry.field(default=None, description="Sub-type of the file type.")

    def spec(self) -> FileSpec:
        return FileSpec(
            path=self.path,
            name=self.name,
            mimetype=self.mimetype,
            size_bytes=self.size_bytes,
            checksum=self.checksum,
            checksum_algorithm=self.checksum_algorithm,
            modified_at=self.modified_at,
            annotation=self.annotation,
            content_flag=self.content_flag,
            sub_type=self.sub_type,
        )


@strawberry.input(description="A named value (KPI); recording a key again replaces its value.")
class MetricInput:
    key: str = strawberry.field(description="The metric's name; new names join the catalogue.")
    value: float | None = strawberry.field(default=None, description="Numeric value.")
    text: str | None = strawberry.field(default=None, description="Text value.")
    unit: str | None = strawberry.field(default=None, description="Unit of the value.")

    def spec(self) -> MetricValue:
        return MetricValue(key=self.key, value=self.value, text=self.text, unit=self.unit)


def metric_specs(metrics: list[MetricInput], field: str = "metrics") -> list[MetricValue]:
    capped(metrics, field)
    return [metric.spec() for metric in metrics]


@strawberry.input(
    description="An event to append to the audit log: about a node, or, without `subjectId`, "
    "a service event about the service itself (an error, a metric), which needs a grant on "
    "everything and is seen only by callers with one."
)
class EventInput:
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The node the event is about; none for a service event."
    )
    type: str = strawberry.field(description="What happened, e.g. simulation_completed.")
    level: EventLevel | None = strawberry.field(
        default=None, description="How much it matters (seed 002 log_event's status)."
    )
    payload: JSON | None = strawberry.field(default=None, description="Details: a JSON object.")
    actor: str | None = strawberry.field(
        default=None, description="Who caused it (a worker or agent); the caller if not given."
    )

    def spec(self, field: str) -> EventSpec:
        subject_type = subject_id = None
        if self.subject_id is not None:
            subject, subject_id = node_of(self.subject_id, f"{field}.subjectId")
            subject_type = subject.__name__
        return EventSpec(
            subject_type=subject_type,
            subject_id=subject_id,
            type=self.type,
            payload=json_object(self.payload, f"{field}.payload"),
            actor=self.actor,
            level=self.level,
        )


@strawberry.type(description="The events appended, in order.")
class AppendEventsPayload:
    events: list[Event]


@strawberry.type(description="The metrics' owner after the values were recorded.")
class RecordMetricsPayload:
    subject: relay.Node = strawberry.field(description="The job, run, chunk, ... now.")


@strawberry.type(description="What was deleted.")
class DeleteNodePayload:
    deleted_id: relay.GlobalID = strawberry.field(description="The id the node had.")
    snapshot: JSON = strawberry.field(description="Its fields at deletion, as the event has them.")


@strawberry.type(description="A metric name in the catalogue.")
class DefineMetricKeyPayload:
    metric_key: MetricKey


def node_of(node_id: relay.GlobalID, field: str) -> tuple[type[Entity], int]:
    """The model and row id of a global id of any node type."""
    model = entity_model(node_id.type_name)
    return model, row_id(node_id, model, field)


@strawberry.type
class CoreMutations:
    @strawberry.mutation(
        description="Append one event about a node, or a service event about none, to the "
        "audit log (seed 004 append_event, seed 002 log_event)."
    )
    async def append_event(self, info: WriteInfo, input: EventInput) -> AppendEventsPayload:
        async with write(info, Action.RUN) as writer:
            events = await writes.append_events(writer, [input.spec("input")])
        return AppendEventsPayload(events=events)  # type: ignore[arg-type]

    @strawberry.mutation(
        description=f"Append events in order, in one transaction (at most {MAX_EVENTS})."
    )
    async def append_events(self, info: WriteInfo, events: list[EventInput]) -> AppendEventsPayload:
        capped(events, "events", MAX_EVENTS)
        specs = [event.spec(f"events[{n}]") for n, event in enumerate(events)]
        async with write(info, Action.RUN) as writer:
            rows = await writes.append_events(writer, specs)
        return AppendEventsPayload(events=rows)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Record named values (KPIs, summaries) on a job, run, chunk, recording or "
        "calculation; a key recorded again takes the new value."
    )
    async def record_metrics(
        self, info: WriteInfo, subject_id: relay.GlobalID, metrics: list[MetricInput]
    ) -> RecordMetricsPayload:
        specs = metric_specs(metrics)
        model, owner_id = node_of(subject_id, "subjectId")
        async with write(info, Action.RUN) as writer:
            owner = await writer.lock(model, owner_id)
            await writes.record_metrics(writer, owner, specs)
        return RecordMetricsPayload(subject=owner)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Add a metric name to the catalogue, or describe it anew; a description "
        "or unit left out keeps its value."
    )
    async def define_metric_key(
        self,
        info: WriteInfo,
        name: str,
        description: str | None = None,
        unit: str | None = None,
    ) -> DefineMetricKeyPayload:
        if not name:
            raise BadUserInput("name must not be empty.", field="name")
        async with write(info, server="the metric catalogue") as writer:
            ids = await writes.metric_keys(writer, [name], {name: unit})
            key = await writes.update_fields(
                writer,
                models.MetricKey,
                ids[name],
                {
                    name: value
                    for name, value in (("description", description), ("unit", unit))
                    if value is not None
                },
            )
        return DefineMetricKeyPayload(metric_key=key)

    @strawberry.mutation(
        description="Delete a node. Refused (CONFLICT, reason HAS_DEPENDENTS) while recorded "
        "results depend on it: a study's runs or participants, a participant's recordings, a "
        "project's jobs or files, a job's children, files or metrics, a file's uses, a run's "
        "trajectories, metrics, artifacts or agent outputs, a trajectory's chunk attempts, a "
        "molecule's calculations or batch items, a calculation's batch items. A row's own "
        "parts (a recording's channels and cycles, a calculation's atoms, a batch's items) "
        "go with it. Events are never deleted."
    )
    async def delete_node(self, info: WriteInfo, id: relay.GlobalID) -> DeleteNodePayload:
        if id.type_name == "Event":
            raise BadUserInput("Events are append-only: they cannot be deleted.", field="id")
        model, node_row_id = node_of(id, "id")
        async with write(info, Action.ADMINISTER) as writer:
            state = await writes.delete_row(writer, model, node_row_id)
        return DeleteNodePayload(deleted_id=id, snapshot=state)  # type: ignore[arg-type]
