"""The ORM: one module per domain, all sharing `Base.metadata`."""

from scimeta.models.auth import ApiToken, TokenGrant
from scimeta.models.base import Base, Entity
from scimeta.models.chemistry import AtomicProperty, Batch, BatchItem, Calculation, Molecule
from scimeta.models.core import Event, File, IdempotencyKey, Metric, MetricKey
from scimeta.models.enums import (
    AuditStatus,
    EventLevel,
    FileRole,
    Knee,
    Maneuver,
    RecordingKind,
    Role,
    RunPhase,
    Status,
)
from scimeta.models.jobs import Job, JobFile, Project
from scimeta.models.runs import AgentOutput, Chunk, Run, RunArtifact, Trajectory
from scimeta.models.studies import (
    MovementCycle,
    Participant,
    Recording,
    RecordingChannel,
    Study,
    Synchronization,
)

__all__ = [
    "AgentOutput",
    "ApiToken",
    "AtomicProperty",
    "AuditStatus",
    "Base",
    "Batch",
    "BatchItem",
    "Calculation",
    "Chunk",
    "Entity",
    "Event",
    "EventLevel",
    "File",
    "FileRole",
    "IdempotencyKey",
    "Job",
    "JobFile",
    "Knee",
    "Maneuver",
    "Metric",
    "MetricKey",
    "Molecule",
    "MovementCycle",
    "Participant",
    "Project",
    "Recording",
    "RecordingChannel",
    "RecordingKind",
    "Role",
    "Run",
    "RunArtifact",
    "RunPhase",
    "Status",
    "Study",
    "Synchronization",
    "TokenGrant",
    "Trajectory",
    "ownership",
]

# every entity's owner and relations (imported last: it refers to the models above)
from scimeta.models import ownership
