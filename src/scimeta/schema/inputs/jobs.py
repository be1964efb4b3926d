"""The `where:` and `orderBy:` inputs of projects, jobs and the files jobs use.

They are written in `scimeta.schema.generated` by `python -m scimeta.schema.generate`,
from `scimeta.schema.inputs.specs`."""

from scimeta.schema.generated.order import (
    JobFileOrder,
    JobOrder,
    ProjectOrder,
)
from scimeta.schema.generated.where import (
    JobFileWhere,
    JobWhere,
    ProjectWhere,
)

__all__ = [
    "JobFileOrder",
    "JobFileWhere",
    "JobOrder",
    "JobWhere",
    "ProjectOrder",
    "ProjectWhere",
]
