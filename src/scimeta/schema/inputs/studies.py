"""The `where:` and `orderBy:` inputs of studies, participants, recordings and their parts.

They are written in `scimeta.schema.generated` by `python -m scimeta.schema.generate`,
from `scimeta.schema.inputs.specs`."""

from scimeta.schema.generated.order import (
    MovementCycleOrder,
    ParticipantOrder,
    RecordingChannelOrder,
    RecordingOrder,
    StudyOrder,
    SynchronizationOrder,
)
from scimeta.schema.generated.where import (
    MovementCycleWhere,
    ParticipantWhere,
    RecordingChannelWhere,
    RecordingWhere,
    StudyWhere,
    SynchronizationWhere,
)

__all__ = [
    "MovementCycleOrder",
    "MovementCycleWhere",
    "ParticipantOrder",
    "ParticipantWhere",
    "RecordingChannelOrder",
    "RecordingChannelWhere",
    "RecordingOrder",
    "RecordingWhere",
    "StudyOrder",
    "StudyWhere",
    "SynchronizationOrder",
    "SynchronizationWhere",
]
