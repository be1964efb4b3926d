"""Filters and sort keys of runs, trajectories and chunk attempts."""

from __future__ import annotations

from scimeta import models
from scimeta.schema.filters import (
    AuditStatusFilter,
    DateTimeFilter,
    IDFilter,
    IntFilter,
    RunPhaseFilter,
    StatusFilter,
    StringFilter,
    where_input,
)
from scimeta.schema.ordering import order_input

_M = __name__
_STUDIES = "scimeta.schema.inputs.studies"
_CORE = "scimeta.schema.inputs.core"

RunWhere = where_input(
    "RunWhere",
    models.Run,
    module=_M,
    noun="run",
    fields={
        "id": IDFilter,
        "name": StringFilter,
        "status": StatusFilter,
        "phase": RunPhaseFilter,
        "claimed_by": StringFilter,
        "lease_expires_at": DateTimeFilter,
        "attempt": IntFilter,
        "started_at": DateTimeFilter,
        "ended_at": DateTimeFilter,
        "created_at": DateTimeFilter,
        "updated_at": DateTimeFilter,
    },
    relations={
        "study": (models.Run.study_id, models.Study.id, "StudyWhere", _STUDIES),
        "metrics": (models.Run.id, models.Metric.run_id, "MetricWhere", _CORE),
    },
)
RunOrder = order_input(
    "RunOrder",
    "run",
    {
        "NAME": models.Run.name,
        "STATUS": models.Run.status,
        "PHASE": models.Run.phase,
        "ATTEMPT": models.Run.attempt,
        "STARTED_AT": models.Run.started_at,
        "ENDED_AT": models.Run.ended_at,
        "CREATED_AT": models.Run.created_at,
        "UPDATED_AT": models.Run.updated_at,
    },
)

RunArtifactWhere = where_input(
    "RunArtifactWhere",
    models.RunArtifact,
    module=_M,
    noun="run artifact",
    fields={"id": IDFilter, "role": StringFilter},
    relations={"file": (models.RunArtifact.file_id, models.File.id, "FileWhere", _CORE)},
)
RunArtifactOrder = order_input(
    "RunArtifactOrder",
    "run artifact",
    {"ROLE": models.RunArtifact.role, "CREATED_AT": models.RunArtifact.created_at},
)

AgentOutputWhere = where_input(
    "AgentOutputWhere",
    models.AgentOutput,
    module=_M,
    noun="agent output",
    fields={
        "id": IDFilter,
        "agent": StringFilter,
        "kind": StringFilter,
        "schema_version": StringFilter,
        "created_at": DateTimeFilter,
    },
)
AgentOutputOrder = order_input(
    "AgentOutputOrder",
    "agent output",
    {
        "AGENT": models.AgentOutput.agent,
        "KIND": models.AgentOutput.kind,
        "CREATED_AT": models.AgentOutput.created_at,
    },
)

TrajectoryWhere = where_input(
    "TrajectoryWhere",
    models.Trajectory,
    module=_M,
    noun="trajectory",
    fields={
        "id": IDFilter,
        "index": IntFilter,
        "target_length": IntFilter,
        "created_at": DateTimeFilter,
    },
    relations={"run": (models.Trajectory.run_id, models.Run.id, "RunWhere", _M)},
)
TrajectoryOrder = order_input(
    "TrajectoryOrder",
    "trajectory",
    {
        "INDEX": models.Trajectory.index,
        "TARGET_LENGTH": models.Trajectory.target_length,
        "CREATED_AT": models.Trajectory.created_at,
    },
)

ChunkWhere = where_input(
    "ChunkWhere",
    models.Chunk,
    module=_M,
    noun="chunk attempt",
    fields={
        "id": IDFilter,
        "index": IntFilter,
        "attempt": IntFilter,
        "model_version": StringFilter,
        "audit_status": AuditStatusFilter,
        "frame_count": IntFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "run": (models.Chunk.run_id, models.Run.id, "RunWhere", _M),
        "trajectory": (models.Chunk.trajectory_id, models.Trajectory.id, "TrajectoryWhere", _M),
    },
)
ChunkOrder = order_input(
    "ChunkOrder",
    "chunk attempt",
    {
        "INDEX": models.Chunk.index,
        "ATTEMPT": models.Chunk.attempt,
        "MODEL_VERSION": models.Chunk.model_version,
        "AUDIT_STATUS": models.Chunk.audit_status,
        "FRAME_COUNT": models.Chunk.frame_count,
        "CREATED_AT": models.Chunk.created_at,
    },
)
