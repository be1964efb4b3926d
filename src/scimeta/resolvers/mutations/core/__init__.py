"""Mutations every domain shares: metrics, events, deletes; and the shared inputs.

Its module `tokens` holds the API tokens' mutations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.auth.policy import Action
from scimeta.errors import BadUserInput
from scimeta.models import Entity
from scimeta.resolvers.mutations.base import WriteInfo, capped, row_id, write
from scimeta.schema.core import Event, MetricKey
from scimeta.schema.enums import EventLevel
from scimeta.schema.scalars import Long
from scimeta.writes import core as writes
from scimeta.writes.columns import Names, check_columns, nulls
from scimeta.writes.core import EventSpec, FileSpec, MetricValue, entity_model
from scimeta.writes.core.files import FILE_FIELDS, FileColumns

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


@strawberry.input(
    description="Files as one list per column, entry n of each being file n's: the same "
    "files as a list of FileInput, checked by the same rules. Every column given has one "
    "entry per row; a column left out is null for every file."
)
class FileColumnsInput:
    path: list[str | None] = strawberry.field(
        description="Paths or URIs. Where a file is optional (a chunk attempt's), null is a "
        "row without a file, with null in every other file column; elsewhere it is refused."
    )
    name: list[str | None] | None = strawberry.field(
        default=None, description="File names; null: the last part of the path."
    )
    mimetype: list[str | None] | None = strawberry.field(default=None, description="MIME types.")
    size_bytes: list[Long | None] | None = strawberry.field(
        default=None, description="Sizes in bytes."
    )
    checksum: list[str | None] | None = strawberry.field(
        default=None, description="Checksums of the content."
    )
    checksum_algorithm: list[str | None] | None = strawberry.field(
        default=None, description="Checksum algorithms; sha256 where a checksum is given."
    )
    modified_at: list[datetime | None] | None = strawberry.field(
        default=None, description="Last modification times."
    )
    annotation: list[str | None] | None = strawberry.field(
        default=None, description="Free-text annotations."
    )
    content_flag: list[int | None] | None = strawberry.field(
        default=None, description="Content flags of the file types."
    )
    sub_type: list[int | None] | None = strawberry.field(
        default=None, description="Sub-types of the file types."
    )

    def columns(self, prefix: str = "file.") -> dict[str, Any]:
        """The columns by their names in errors (`file.sizeBytes`), None if left out."""
        return {prefix + name: getattr(self, column) for name, column in FILE_FIELDS.items()}

    def files(self, rows: int) -> FileColumns:
        return FileColumns.given(self.columns(""), rows)


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
        """The event, its subject parsed; its payload is checked with its other values
        by `append_events`."""
        subject_type = subject_id = None
        if self.subject_id is not None:
            subject, subject_id = node_of(self.subject_id, f"{field}.subjectId")
            subject_type = subject.__name__
        return EventSpec(
            subject_type=subject_type,
            subject_id=subject_id,
            type=self.type,
            payload=self.payload,
            actor=self.actor,
            level=self.level,
        )


@strawberry.input(
    description="Events as one list per column, entry n of each being event n's: the same "
    "events as a list of EventInput, checked by the same rules and appended in the same "
    "order, for less work per event on the server and a smaller request. Errors name a "
    "value by its column and position, as eventColumns.type[3]."
)
class EventColumnsInput:
    type: list[str] = strawberry.field(
        description="What happened, e.g. simulation_completed. Its length is the number of "
        f"events (at most {MAX_EVENTS})."
    )
    subject_id: list[relay.GlobalID | None] | None = strawberry.field(
        default=None,
        description="The nodes the events are about; null for a service event. Left out, "
        "every event is a service event.",
    )
    level: list[EventLevel | None] | None = strawberry.field(
        default=None, description="How much each matters; left out, null for all."
    )
    payload: list[JSON | None] | None = strawberry.field(
        default=None, description="Details, each a JSON object or null; left out, none."
    )
    actor: list[str | None] | None = strawberry.field(
        default=None, description="Who caused each; null or left out: the caller."
    )


def _events(
    events: list[EventInput] | None, columns: EventColumnsInput | None
) -> writes.EventColumns:
    """The events of either form as columns with their subjects parsed, checked for the
    cap and, as columns, for their lengths; the write function checks their values."""
    if columns is None:
        if events is None:
            raise BadUserInput("Give the events as events or as eventColumns.", field="events")
        capped(events, "events", MAX_EVENTS)
        return writes.EventColumns.of(
            [event.spec(f"events[{n}]") for n, event in enumerate(events)]
        )
    if events is not None:
        raise BadUserInput(
            "Give the events as events or as eventColumns, not both.", field="events"
        )
    names = Names("eventColumns", columnar=True)
    rows = check_columns(
        names,
        MAX_EVENTS,
        "type",
        {
            "type": columns.type,
            "subjectId": columns.subject_id,
            "level": columns.level,
            "payload": columns.payload,
            "actor": columns.actor,
        },
    )
    subject_types: list[str | None] = [None] * rows
    subject_ids: list[int | None] = [None] * rows
    for position, node_id in enumerate(columns.subject_id or ()):
        if node_id is not None:
            model, subject_ids[position] = node_of(node_id, names.value(position, "subjectId"))
            subject_types[position] = model.__name__
    return writes.EventColumns(
        subject_type=subject_types,
        subject_id=subject_ids,
        type=columns.type,
        payload=nulls(columns.payload, rows),
        actor=nulls(columns.actor, rows),
        level=nulls(columns.level, rows),
        names=names,
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
            events = await writes.append_events(
                writer, writes.EventColumns.of([input.spec("input")], Names("input", single=True))
            )
        return AppendEventsPayload(events=events)  # type: ignore[arg-type]

    @strawberry.mutation(
        description=f"Append events in order, in one transaction (at most {MAX_EVENTS}), "
        "given as events or as eventColumns."
    )
    async def append_events(
        self,
        info: WriteInfo,
        events: list[EventInput] | None = None,
        event_columns: EventColumnsInput | None = None,
    ) -> AppendEventsPayload:
        columns = _events(events, event_columns)
        async with write(info, Action.RUN) as writer:
            rows = await writes.append_events(writer, columns)
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
