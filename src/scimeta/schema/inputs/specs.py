"""What each entity's list inputs and aggregates hold, as data.

For every entity with a list: the fields its `<Entity>Where` filters on, the sort keys of
its `<Entity>Order`, and, for the lists that have them, the fields of its aggregates.
`python -m scimeta.schema.generate` writes the GraphQL types from these into
`scimeta.schema.generated` (and `--check` says whether the files there are current):

- `<Entity>Where` (`generated/where.py`) has a field per name in `where`, taking the
  operator input of the column's type (`IDFilter` for `id`, `<Enum>Filter` for an enum
  column, or the one named in `filters`), then a field per relation declared for the
  entity in `scimeta.models.ownership`, taking the related entity's `<Other>Where`, and
  `and`, `or`, `not`;
- `<Entity>Order` and its `<Entity>OrderField` enum (`generated/order.py`): the enum's
  names and the attributes they sort by;
- `<Entity>Aggregate`, `<Entity>Group`, `<Entity>GroupKey` and `<Entity>GroupBy`
  (`generated/aggregates.py`): statistics of the `numbers` and `times` attributes, and
  groups by the `groups` attributes or to-one relations (whose key is the related node);
- `<Entity>Edge` and `<Entity>Connection` (`generated/connections.py`): the types of a
  page of every entity's lists, with the aggregates if it has them;
- `<entity>_list` (`generated/lists.py`): the resolver of every entity's lists, whose
  signature holds their arguments (`where`, `orderBy` and the page's).

Names are the models' attribute names (and the relations' declared names); this module
imports only the models, so that the generator runs whatever state the generated files
are in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scimeta import models
from scimeta.models import Base


@dataclass(frozen=True)
class Aggregated:
    """The fields of an entity's aggregates: `numbers` get `NumberStats`, `times`
    `TimeStats`, and `groups` are what `groups(by:)` can group by."""

    numbers: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inputs:
    """The inputs of the lists of `model`'s rows, which the descriptions call `noun`s."""

    model: type[Base]
    noun: str
    # the fields of `<Entity>Where`, before its relations
    where: tuple[str, ...]
    # `<Entity>OrderField` names -> the attributes they sort by
    order: Mapping[str, str]
    aggregate: Aggregated | None = None
    # operator inputs of fields that are not one column (an event's subject)
    filters: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.__name__


ENTITIES: tuple[Inputs, ...] = (
    # -- jobs --------------------------------------------------------------------------
    Inputs(
        models.Project,
        "project",
        where=("id", "name", "directory", "created_at"),
        order={"NAME": "name", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.Job,
        "job",
        where=(
            "id",
            "number",
            "task_name",
            "title",
            "status",
            "started_at",
            "finished_at",
            "created_at",
        ),
        order={
            "NUMBER": "number_path",
            "TASK_NAME": "task_name",
            "STATUS": "status",
            "STARTED_AT": "started_at",
            "FINISHED_AT": "finished_at",
            "CREATED_AT": "created_at",
        },
        aggregate=Aggregated(
            times=("created_at", "started_at", "finished_at"),
            groups=("status", "task_name", "project"),
        ),
    ),
    Inputs(
        models.JobFile,
        "job file",
        where=("id", "role", "parameter_name"),
        order={"ROLE": "role", "PARAMETER_NAME": "parameter_name"},
    ),
    # -- core --------------------------------------------------------------------------
    Inputs(
        models.File,
        "file",
        where=(
            "id",
            "path",
            "name",
            "mimetype",
            "size_bytes",
            "checksum",
            "imported_from",
            "imported_at",
            "modified_at",
            "created_at",
        ),
        order={
            "NAME": "name",
            "PATH": "path",
            "SIZE_BYTES": "size_bytes",
            "MODIFIED_AT": "modified_at",
            "CREATED_AT": "created_at",
        },
    ),
    Inputs(
        models.MetricKey,
        "metric key",
        where=("id", "name", "unit"),
        order={"NAME": "name"},
    ),
    Inputs(
        models.Metric,
        "metric",
        where=("id", "value", "text", "unit", "created_at"),
        order={"VALUE": "value", "CREATED_AT": "created_at"},
        aggregate=Aggregated(numbers=("value",), times=("created_at",), groups=("key", "unit")),
    ),
    Inputs(
        models.Event,
        "event",
        where=("id", "sequence", "at", "subject", "type", "actor", "level"),
        order={"SEQUENCE": "sequence", "AT": "at"},
        aggregate=Aggregated(
            numbers=("sequence",),
            times=("at",),
            groups=("type", "subject_type", "level", "actor"),
        ),
        # the node an event is about: its subject_type and subject_id
        filters={"subject": "SubjectFilter"},
    ),
    # -- studies -----------------------------------------------------------------------
    Inputs(
        models.Study,
        "study",
        where=("id", "name", "title", "spec_hash", "created_at"),
        order={"NAME": "name", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.Participant,
        "participant",
        where=("id", "number", "created_at"),
        order={"NUMBER": "number", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.Recording,
        "recording",
        where=(
            "id",
            "kind",
            "maneuver",
            "knee",
            "pass_number",
            "speed",
            "recorded_at",
            "device_serial",
            "firmware_version",
            "num_channels",
            "qc_passed",
            "created_at",
        ),
        order={
            "KIND": "kind",
            "MANEUVER": "maneuver",
            "KNEE": "knee",
            "PASS_NUMBER": "pass_number",
            "RECORDED_AT": "recorded_at",
            "CREATED_AT": "created_at",
        },
        aggregate=Aggregated(
            numbers=("num_channels",),
            times=("recorded_at",),
            groups=("kind", "maneuver", "knee", "qc_passed", "participant"),
        ),
    ),
    Inputs(
        models.RecordingChannel,
        "recording channel",
        where=("id", "index", "microphone_position", "qc_passed", "signal_dropout"),
        order={"INDEX": "index", "SIGNAL_DROPOUT": "signal_dropout"},
    ),
    Inputs(
        models.MovementCycle,
        "movement cycle",
        where=("id", "index", "start_seconds", "end_seconds", "qc_passed"),
        order={"INDEX": "index", "START_SECONDS": "start_seconds"},
    ),
    Inputs(
        models.Synchronization,
        "synchronization",
        where=("id", "method", "offset_seconds", "qc_passed"),
        order={"OFFSET_SECONDS": "offset_seconds", "CREATED_AT": "created_at"},
    ),
    # -- runs --------------------------------------------------------------------------
    Inputs(
        models.Run,
        "run",
        where=(
            "id",
            "name",
            "status",
            "phase",
            "claimed_by",
            "lease_expires_at",
            "attempt",
            "started_at",
            "ended_at",
            "created_at",
            "updated_at",
        ),
        order={
            "NAME": "name",
            "STATUS": "status",
            "PHASE": "phase",
            "ATTEMPT": "attempt",
            "STARTED_AT": "started_at",
            "ENDED_AT": "ended_at",
            "CREATED_AT": "created_at",
            "UPDATED_AT": "updated_at",
        },
        aggregate=Aggregated(
            numbers=("attempt",),
            times=("created_at", "started_at", "ended_at"),
            groups=("status", "phase", "claimed_by", "study"),
        ),
    ),
    Inputs(
        models.RunArtifact,
        "run artifact",
        where=("id", "role"),
        order={"ROLE": "role", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.AgentOutput,
        "agent output",
        where=("id", "agent", "kind", "schema_version", "created_at"),
        order={"AGENT": "agent", "KIND": "kind", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.Trajectory,
        "trajectory",
        where=("id", "index", "target_length", "created_at"),
        order={"INDEX": "index", "TARGET_LENGTH": "target_length", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.Chunk,
        "chunk attempt",
        where=(
            "id",
            "index",
            "attempt",
            "model_version",
            "audit_status",
            "frame_count",
            "created_at",
        ),
        order={
            "INDEX": "index",
            "ATTEMPT": "attempt",
            "MODEL_VERSION": "model_version",
            "AUDIT_STATUS": "audit_status",
            "FRAME_COUNT": "frame_count",
            "CREATED_AT": "created_at",
        },
        aggregate=Aggregated(
            numbers=("frame_count", "attempt"),
            times=("created_at",),
            groups=("audit_status", "model_version", "index", "trajectory"),
        ),
    ),
    # -- chemistry ---------------------------------------------------------------------
    Inputs(
        models.Molecule,
        "molecule",
        where=("id", "smiles", "name", "formula", "created_at"),
        order={
            "SMILES": "smiles",
            "NAME": "name",
            "FORMULA": "formula",
            "CREATED_AT": "created_at",
        },
    ),
    Inputs(
        models.Calculation,
        "calculation",
        where=(
            "id",
            "method",
            "status",
            "energy",
            "gap",
            "dipole",
            "execution_seconds",
            "started_at",
            "finished_at",
            "created_at",
        ),
        order={
            "METHOD": "method",
            "STATUS": "status",
            "ENERGY": "energy",
            "GAP": "gap",
            "DIPOLE": "dipole",
            "EXECUTION_SECONDS": "execution_seconds",
            "FINISHED_AT": "finished_at",
            "CREATED_AT": "created_at",
        },
        aggregate=Aggregated(
            numbers=("energy", "gap", "dipole", "execution_seconds"),
            times=("created_at", "finished_at"),
            groups=("status", "method", "molecule"),
        ),
    ),
    Inputs(
        models.AtomicProperty,
        "atomic property",
        where=("id", "atom_index", "element", "charge"),
        order={"ATOM_INDEX": "atom_index", "ELEMENT": "element", "CHARGE": "charge"},
    ),
    Inputs(
        models.Batch,
        "batch",
        where=("id", "name", "method", "status", "started_at", "finished_at", "created_at"),
        order={"NAME": "name", "STATUS": "status", "CREATED_AT": "created_at"},
    ),
    Inputs(
        models.BatchItem,
        "batch item",
        where=("id", "status", "created_at"),
        order={"STATUS": "status", "CREATED_AT": "created_at"},
        aggregate=Aggregated(times=("created_at", "updated_at"), groups=("status", "batch")),
    ),
)
