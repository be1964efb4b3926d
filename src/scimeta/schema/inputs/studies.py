"""Filters and sort keys of studies, participants, recordings and their parts."""

from __future__ import annotations

from scimeta import models
from scimeta.schema.filters import (
    BooleanFilter,
    DateTimeFilter,
    FloatFilter,
    IDFilter,
    IntFilter,
    KneeFilter,
    ManeuverFilter,
    RecordingKindFilter,
    StringFilter,
    where_input,
)
from scimeta.schema.ordering import order_input

_M = __name__
_RUNS = "scimeta.schema.inputs.runs"
_CORE = "scimeta.schema.inputs.core"

StudyWhere = where_input(
    "StudyWhere",
    models.Study,
    module=_M,
    noun="study",
    fields={
        "id": IDFilter,
        "name": StringFilter,
        "title": StringFilter,
        "spec_hash": StringFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "participants": (models.Study.id, models.Participant.study_id, "ParticipantWhere", _M),
        "runs": (models.Study.id, models.Run.study_id, "RunWhere", _RUNS),
    },
)
StudyOrder = order_input(
    "StudyOrder",
    "study",
    {"NAME": models.Study.name, "CREATED_AT": models.Study.created_at},
)

ParticipantWhere = where_input(
    "ParticipantWhere",
    models.Participant,
    module=_M,
    noun="participant",
    fields={"id": IDFilter, "number": IntFilter, "created_at": DateTimeFilter},
    relations={
        "study": (models.Participant.study_id, models.Study.id, "StudyWhere", _M),
        "recordings": (
            models.Participant.id,
            models.Recording.participant_id,
            "RecordingWhere",
            _M,
        ),
    },
)
ParticipantOrder = order_input(
    "ParticipantOrder",
    "participant",
    {"NUMBER": models.Participant.number, "CREATED_AT": models.Participant.created_at},
)

RecordingWhere = where_input(
    "RecordingWhere",
    models.Recording,
    module=_M,
    noun="recording",
    fields={
        "id": IDFilter,
        "kind": RecordingKindFilter,
        "maneuver": ManeuverFilter,
        "knee": KneeFilter,
        "pass_number": IntFilter,
        "speed": StringFilter,
        "recorded_at": DateTimeFilter,
        "device_serial": StringFilter,
        "firmware_version": StringFilter,
        "num_channels": IntFilter,
        "qc_passed": BooleanFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "participant": (
            models.Recording.participant_id,
            models.Participant.id,
            "ParticipantWhere",
            _M,
        ),
        "file": (models.Recording.file_id, models.File.id, "FileWhere", _CORE),
        "metrics": (models.Recording.id, models.Metric.recording_id, "MetricWhere", _CORE),
    },
)
RecordingOrder = order_input(
    "RecordingOrder",
    "recording",
    {
        "KIND": models.Recording.kind,
        "MANEUVER": models.Recording.maneuver,
        "KNEE": models.Recording.knee,
        "PASS_NUMBER": models.Recording.pass_number,
        "RECORDED_AT": models.Recording.recorded_at,
        "CREATED_AT": models.Recording.created_at,
    },
)

RecordingChannelWhere = where_input(
    "RecordingChannelWhere",
    models.RecordingChannel,
    module=_M,
    noun="recording channel",
    fields={
        "id": IDFilter,
        "index": IntFilter,
        "microphone_position": StringFilter,
        "qc_passed": BooleanFilter,
        "signal_dropout": FloatFilter,
    },
)
RecordingChannelOrder = order_input(
    "RecordingChannelOrder",
    "recording channel",
    {
        "INDEX": models.RecordingChannel.index,
        "SIGNAL_DROPOUT": models.RecordingChannel.signal_dropout,
    },
)

MovementCycleWhere = where_input(
    "MovementCycleWhere",
    models.MovementCycle,
    module=_M,
    noun="movement cycle",
    fields={
        "id": IDFilter,
        "index": IntFilter,
        "start_seconds": FloatFilter,
        "end_seconds": FloatFilter,
        "qc_passed": BooleanFilter,
    },
)
MovementCycleOrder = order_input(
    "MovementCycleOrder",
    "movement cycle",
    {"INDEX": models.MovementCycle.index, "START_SECONDS": models.MovementCycle.start_seconds},
)

SynchronizationWhere = where_input(
    "SynchronizationWhere",
    models.Synchronization,
    module=_M,
    noun="synchronization",
    fields={
        "id": IDFilter,
        "method": StringFilter,
        "offset_seconds": FloatFilter,
        "qc_passed": BooleanFilter,
    },
)
SynchronizationOrder = order_input(
    "SynchronizationOrder",
    "synchronization",
    {
        "OFFSET_SECONDS": models.Synchronization.offset_seconds,
        "CREATED_AT": models.Synchronization.created_at,
    },
)
