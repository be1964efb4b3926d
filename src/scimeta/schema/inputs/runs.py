"""The `where:` and `orderBy:` inputs of runs, run artifacts, agent outputs, trajectories and
chunk attempts.

They are written in `scimeta.schema.generated` by `python -m scimeta.schema.generate`,
from `scimeta.schema.inputs.specs`."""

from scimeta.schema.generated.order import (
    AgentOutputOrder,
    ChunkOrder,
    RunArtifactOrder,
    RunOrder,
    TrajectoryOrder,
)
from scimeta.schema.generated.where import (
    AgentOutputWhere,
    ChunkWhere,
    RunArtifactWhere,
    RunWhere,
    TrajectoryWhere,
)

__all__ = [
    "AgentOutputOrder",
    "AgentOutputWhere",
    "ChunkOrder",
    "ChunkWhere",
    "RunArtifactOrder",
    "RunArtifactWhere",
    "RunOrder",
    "RunWhere",
    "TrajectoryOrder",
    "TrajectoryWhere",
]
