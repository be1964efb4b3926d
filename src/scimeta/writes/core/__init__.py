"""Writes shared by every domain: files, metrics, events, updates and deletes.

Its module `files` checks and inserts the files of a bulk write as columns.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from scimeta import models
from scimeta.auth.policy import SERVER, Action
from scimeta.errors import BadUserInput, Conflict, NotFound
from scimeta.models import Entity
from scimeta.models.core import METRIC_OWNERS
from scimeta.writes.columns import Names
from scimeta.writes.transaction import (
    Writer,
    check_version,
    global_id,
    global_id_of,
    json_value,
    snapshot,
    type_name,
)


@dataclass
class FileSpec:
    """A file's metadata as a writer gives it."""

    path: str
    name: str | None = None
    mimetype: str | None = None
    size_bytes: int | None = None
    checksum: str | None = None
    checksum_algorithm: str | None = None
    modified_at: datetime | None = None
    annotation: str | None = None
    content_flag: int | None = None
    sub_type: int | None = None

    def row(self, project_id: int | None = None, **extra: Any) -> models.File:
        if not self.path:
            raise BadUserInput("A file needs a path.", field="path")
        if self.size_bytes is not None and self.size_bytes < 0:
            raise BadUserInput("sizeBytes cannot be negative.", field="sizeBytes")
        algorithm = self.checksum_algorithm or ("sha256" if self.checksum else None)
        return models.File(
            project_id=project_id,
            path=self.path,
            name=self.name or posixpath.basename(self.path.rstrip("/")) or self.path,
            mimetype=self.mimetype,
            size_bytes=self.size_bytes,
            checksum=self.checksum,
            checksum_algorithm=algorithm,
            modified_at=self.modified_at,
            annotation=self.annotation,
            content_flag=self.content_flag,
            sub_type=self.sub_type,
            **extra,
        )


@dataclass
class MetricValue:
    key: str
    value: float | None = None
    text: str | None = None
    unit: str | None = None


# The owner column of a metric, by the owner's type.
METRIC_OWNER_COLUMNS = {
    "Job": "job_id",
    "Run": "run_id",
    "Chunk": "chunk_id",
    "Recording": "recording_id",
    "Calculation": "calculation_id",
}
assert set(METRIC_OWNER_COLUMNS.values()) == set(METRIC_OWNERS)


# a metric key's name and unit: printable text that no page shows as markup
MAX_METRIC_KEY_NAME = 255
MAX_METRIC_KEY_UNIT = 64
_MARKUP = frozenset("<>&\"'`")


def check_metric_key_text(value: str | None, label: str, maximum: int) -> None:
    """Refuse a metric key name or unit the catalogue, read by every caller, should not
    hold: empty, longer than its column, with control characters, markup characters
    (`< > & " ' ` + "`" + `) or spaces at its ends."""
    if value is None:
        return
    if not value or len(value) > maximum:
        raise BadUserInput(f"{label} takes 1 to {maximum} characters.", field=label)
    if not value.isprintable() or value.strip() != value or not _MARKUP.isdisjoint(value):
        raise BadUserInput(
            f"{label} must be printable text without spaces at its ends or any of < > & \" ' `.",
            field=label,
        )


async def metric_keys(
    writer: Writer, names: Sequence[str], units: dict[str, str | None], *, label: str = "key"
) -> dict[str, int]:
    """The ids of the metric keys called `names`, creating the missing ones.

    The catalogue belongs to the whole server and every caller reads it, so a new key
    needs what `defineMetricKey` needs, wherever it is made (a contributor or admin of
    everything), and writes its `created` event; keys that exist are used by anyone who
    may record the metric."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    for name in wanted:
        check_metric_key_text(name, label, MAX_METRIC_KEY_NAME)
        check_metric_key_text(units.get(name), "unit", MAX_METRIC_KEY_UNIT)
    existing = await _metric_key_ids(writer, wanted)
    missing = [name for name in wanted if name not in existing]
    if missing:
        if writer.access is not None:
            writer.access.require(Action.WRITE, SERVER, "the metric catalogue (a new key)")
        created = await writer.session.scalars(
            insert(models.MetricKey)
            .values([{"name": name, "unit": units.get(name)} for name in missing])
            .on_conflict_do_nothing(index_elements=[models.MetricKey.name])
            .returning(models.MetricKey)
        )
        for key in created:
            # checked above, on the whole server
            writer.trust(("MetricKey", key.id))
            writer.event(key, "created", {"name": key.name, "unit": key.unit})
        existing = await _metric_key_ids(writer, wanted)
    return existing


async def _metric_key_ids(writer: Writer, names: Sequence[str]) -> dict[str, int]:
    rows = await writer.session.execute(
        select(models.MetricKey.name, models.MetricKey.id).where(models.MetricKey.name.in_(names))
    )
    return {name: key_id for name, key_id in rows}


async def record_metrics(writer: Writer, owner: Entity, metrics: Sequence[MetricValue]) -> None:
    """Set the named values on `owner`; a key recorded again takes the new value."""
    owner_column = METRIC_OWNER_COLUMNS.get(type_name(owner))
    if owner_column is None:
        raise BadUserInput(
            f"Metrics belong to a Job, Run, Chunk, Recording or Calculation, not a "
            f"{type_name(owner)}.",
            field="subjectId",
        )
    seen: set[str] = set()
    for position, metric in enumerate(metrics):
        where = f"metrics[{position}]"
        if not metric.key:
            raise BadUserInput(f"{where}.key must not be empty.", field=where)
        if metric.value is None and metric.text is None:
            raise BadUserInput(f"{where} ({metric.key}) needs a value or a text.", field=where)
        if metric.key in seen:
            raise BadUserInput(f"{where}: the key {metric.key!r} is given twice.", field=where)
        seen.add(metric.key)
    if not metrics:
        return
    keys = await metric_keys(writer, list(seen), {m.key: m.unit for m in metrics})
    table = models.Metric.__table__
    statement = insert(models.Metric).values(
        [
            {
                "key_id": keys[metric.key],
                "value": metric.value,
                "text": metric.text,
                "unit": metric.unit,
                owner_column: owner.id,
            }
            for metric in metrics
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[owner_column], table.c.key_id],
        index_where=table.c[owner_column].is_not(None),
        set_={
            "value": statement.excluded.value,
            "text": statement.excluded.text,
            "unit": statement.excluded.unit,
            "updated_at": func.now(),
            "version": table.c.version + 1,
        },
    )
    await writer.session.execute(statement)
    writer.event(
        owner,
        "metrics_recorded",
        {"metrics": {m.key: m.value if m.value is not None else m.text for m in metrics}},
    )


@dataclass
class EventSpec:
    """An event to append: about a node (`subject_type` and `subject_id`), or about the
    service itself (neither), with an optional level."""

    subject_type: str | None
    subject_id: int | None
    type: str
    # a JSON object or None (none); checked with the other values by `append_events`
    payload: Any = field(default_factory=dict)
    actor: str | None = None
    level: models.EventLevel | None = None


@dataclass
class EventColumns:
    """Events as one list per column, entry n of each being event n's; a null subject is
    a service event. `names` says how errors name a value: as in the list of objects the
    client sent (`events[3].type`) or in its columns (`eventColumns.type[3]`)."""

    subject_type: Sequence[str | None]
    subject_id: Sequence[int | None]
    type: Sequence[str]
    payload: Sequence[Any]
    actor: Sequence[str | None]
    level: Sequence[models.EventLevel | None]
    names: Names = field(default_factory=lambda: Names("events"))

    def __len__(self) -> int:
        return len(self.type)

    @classmethod
    def of(cls, specs: Sequence[EventSpec], names: Names | None = None) -> EventColumns:
        """The columns of a list of events, named in errors as that list."""
        return cls(
            subject_type=[spec.subject_type for spec in specs],
            subject_id=[spec.subject_id for spec in specs],
            type=[spec.type for spec in specs],
            payload=[spec.payload for spec in specs],
            actor=[spec.actor for spec in specs],
            level=[spec.level for spec in specs],
            names=names or Names("events"),
        )


MAX_EVENT_TYPE = 128


def check_events(events: EventColumns | Sequence[EventSpec]) -> EventColumns:
    """The events as columns, once every value is one an event can have: a type of 1 to
    128 characters, a payload that is a JSON object or null (none). The first offending
    value is refused (BAD_USER_INPUT), named as the client sent it."""
    columns = events if isinstance(events, EventColumns) else EventColumns.of(events)
    names = columns.names
    for position, type_ in enumerate(columns.type):
        if not type_ or len(type_) > MAX_EVENT_TYPE:
            raise BadUserInput(
                f"{names.value(position, 'type')} must be 1 to {MAX_EVENT_TYPE} characters.",
                field=names.value(position, "type"),
            )
    for position, payload in enumerate(columns.payload):
        if payload is not None and type(payload) is not dict:
            raise BadUserInput(
                f"{names.value(position, 'payload')} must be a JSON object ({{...}}), not "
                f"{type(payload).__name__}.",
                field=names.value(position, "payload"),
            )
    return columns


async def append_events(
    writer: Writer, events: EventColumns | Sequence[EventSpec]
) -> list[models.Event]:
    """Append events about existing nodes, or service events about none, in the order
    given (written when the transaction ends, in one INSERT with the transaction's other
    events). A service event needs a grant on the whole server, checked before anything
    is read."""
    columns = check_events(events)
    if None in columns.subject_id:
        writer.authorize_server("service events (events about no node)")
    by_type: dict[str, set[int]] = {}
    for subject_type, subject_id in zip(columns.subject_type, columns.subject_id, strict=True):
        if subject_type is not None and subject_id is not None:
            by_type.setdefault(subject_type, set()).add(subject_id)
    for subject_type, ids in by_type.items():
        model = entity_model(subject_type)
        found = set(
            (
                await writer.session.execute(
                    select(model.id).where(model.id == any_(literal(list(ids), ARRAY(BigInteger))))
                )
            ).scalars()
        )
        missing = sorted(ids - found)
        if missing:
            raise NotFound(
                f"No {subject_type} has the id {global_id_of(subject_type, missing[0])}; "
                "an event must be about an existing node."
            )
    names_actors = writer.names_actors
    return [
        writer.record(
            models.Event(
                subject_type=subject_type,
                subject_id=subject_id,
                level=level,
                type=type_,
                actor=actor if actor and names_actors else writer.actor,
                payload=(payload or {})
                if not actor or names_actors
                else {**(payload or {}), "reportedActor": actor},
            )
        )
        for subject_type, subject_id, type_, payload, actor, level in zip(
            columns.subject_type,
            columns.subject_id,
            columns.type,
            columns.payload,
            columns.actor,
            columns.level,
            strict=True,
        )
    ]


def entity_model(name: str) -> type[Entity]:
    for mapper in models.Base.registry.mappers:
        cls = mapper.class_
        if cls.__name__ == name and issubclass(cls, Entity):
            return cls
    raise BadUserInput(f"{name} is not a type of node.")


async def update_fields(
    writer: Writer,
    model: type[Entity],
    row_id: int,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Any:
    """Set `changes` on the row if it is still at `expected_version`; one `updated`
    event lists the fields that changed."""
    row: Any = await writer.lock(model, row_id)
    check_version(row, expected_version)
    changed = {
        name: json_value(value) for name, value in changes.items() if getattr(row, name) != value
    }
    if not changed:
        return row
    for name, value in changes.items():
        setattr(row, name, value)
    await writer.flush()
    writer.event(row, "updated", {"fields": sorted(changed)})
    return row


# What may not be deleted while it has these: (model, column, what they are). Rows in
# these lists are recorded results or references that a delete would lose or break;
# parts of a row (a recording's channels, a calculation's atoms, a batch's items) go
# with it.
def _dependents() -> dict[type[Entity], list[tuple[type[Entity], Any, str]]]:
    m = models
    return {
        m.Study: [
            (m.Run, m.Run.study_id, "runs"),
            (m.Participant, m.Participant.study_id, "participants"),
        ],
        m.Participant: [(m.Recording, m.Recording.participant_id, "recordings")],
        m.Project: [(m.Job, m.Job.project_id, "jobs"), (m.File, m.File.project_id, "files")],
        m.Job: [
            (m.Job, m.Job.parent_id, "child jobs"),
            (m.JobFile, m.JobFile.job_id, "files"),
            (m.Metric, m.Metric.job_id, "metrics"),
        ],
        m.File: [
            (m.JobFile, m.JobFile.file_id, "job uses"),
            (m.RunArtifact, m.RunArtifact.file_id, "run artifacts"),
            (m.Chunk, m.Chunk.file_id, "chunk attempts"),
            (m.Recording, m.Recording.file_id, "recordings"),
        ],
        m.Run: [
            (m.Trajectory, m.Trajectory.run_id, "trajectories"),
            (m.Metric, m.Metric.run_id, "metrics"),
            (m.RunArtifact, m.RunArtifact.run_id, "artifacts"),
            (m.AgentOutput, m.AgentOutput.run_id, "agent outputs"),
        ],
        m.Trajectory: [(m.Chunk, m.Chunk.trajectory_id, "chunk attempts")],
        m.Molecule: [
            (m.Calculation, m.Calculation.molecule_id, "calculations"),
            (m.BatchItem, m.BatchItem.molecule_id, "batch items"),
        ],
        m.Calculation: [(m.BatchItem, m.BatchItem.calculation_id, "batch items")],
        m.MetricKey: [(m.Metric, m.Metric.key_id, "metrics")],
    }


async def delete_row(writer: Writer, model: type[Entity], row_id: int) -> dict[str, Any]:
    """Delete a row that no recorded result depends on; returns its snapshot."""
    # locking checks the caller may delete it, while its scope can still be looked up
    row = await writer.lock(model, row_id)
    blocking: list[str] = []
    for child, column, noun in _dependents().get(model, []):
        count = (
            await writer.session.execute(
                select(func.count()).select_from(child).where(and_(column == row_id))
            )
        ).scalar_one()
        if count:
            blocking.append(f"{count} {noun}")
    if blocking:
        raise Conflict(
            f"{type_name(row)} {global_id(row)} still has {', '.join(blocking)}; deleting it "
            "would orphan recorded results. Delete those first.",
            reason="HAS_DEPENDENTS",
            dependents=blocking,
        )
    state = snapshot(row)
    writer.event(row, "deleted", state)
    await writer.session.delete(row)
    await writer.flush()
    return state
