"""Filters and sort keys of files, metrics and events."""

from __future__ import annotations

from scimeta import models
from scimeta.schema.filters import (
    DateTimeFilter,
    EventLevelFilter,
    FloatFilter,
    IDFilter,
    LongFilter,
    StringFilter,
    SubjectFilter,
    where_input,
)
from scimeta.schema.ordering import order_input

_M = __name__

FileWhere = where_input(
    "FileWhere",
    models.File,
    module=_M,
    noun="file",
    fields={
        "id": IDFilter,
        "path": StringFilter,
        "name": StringFilter,
        "mimetype": StringFilter,
        "size_bytes": LongFilter,
        "checksum": StringFilter,
        "imported_from": StringFilter,
        "imported_at": DateTimeFilter,
        "modified_at": DateTimeFilter,
        "created_at": DateTimeFilter,
    },
)
FileOrder = order_input(
    "FileOrder",
    "file",
    {
        "NAME": models.File.name,
        "PATH": models.File.path,
        "SIZE_BYTES": models.File.size_bytes,
        "MODIFIED_AT": models.File.modified_at,
        "CREATED_AT": models.File.created_at,
    },
)

MetricKeyWhere = where_input(
    "MetricKeyWhere",
    models.MetricKey,
    module=_M,
    noun="metric key",
    fields={"id": IDFilter, "name": StringFilter, "unit": StringFilter},
)
MetricKeyOrder = order_input("MetricKeyOrder", "metric key", {"NAME": models.MetricKey.name})

MetricWhere = where_input(
    "MetricWhere",
    models.Metric,
    module=_M,
    noun="metric",
    fields={
        "id": IDFilter,
        "value": FloatFilter,
        "text": StringFilter,
        "unit": StringFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "key": (models.Metric.key_id, models.MetricKey.id, "MetricKeyWhere", _M),
        "job": (models.Metric.job_id, models.Job.id, "JobWhere", "scimeta.schema.inputs.jobs"),
        "run": (models.Metric.run_id, models.Run.id, "RunWhere", "scimeta.schema.inputs.runs"),
        "chunk": (
            models.Metric.chunk_id,
            models.Chunk.id,
            "ChunkWhere",
            "scimeta.schema.inputs.runs",
        ),
        "recording": (
            models.Metric.recording_id,
            models.Recording.id,
            "RecordingWhere",
            "scimeta.schema.inputs.studies",
        ),
        "calculation": (
            models.Metric.calculation_id,
            models.Calculation.id,
            "CalculationWhere",
            "scimeta.schema.inputs.chemistry",
        ),
    },
)
MetricOrder = order_input(
    "MetricOrder",
    "metric",
    {"VALUE": models.Metric.value, "CREATED_AT": models.Metric.created_at},
)

EventWhere = where_input(
    "EventWhere",
    models.Event,
    module=_M,
    noun="event",
    fields={
        "id": IDFilter,
        "sequence": LongFilter,
        "at": DateTimeFilter,
        "subject": SubjectFilter,
        "type": StringFilter,
        "actor": StringFilter,
        "level": EventLevelFilter,
    },
)
EventOrder = order_input(
    "EventOrder", "event", {"SEQUENCE": models.Event.sequence, "AT": models.Event.at}
)
