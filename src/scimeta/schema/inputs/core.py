"""The `where:` and `orderBy:` inputs of files, metric keys, metrics and events.

They are written in `scimeta.schema.generated` by `python -m scimeta.schema.generate`,
from `scimeta.schema.inputs.specs`."""

from scimeta.schema.generated.order import (
    EventOrder,
    FileOrder,
    MetricKeyOrder,
    MetricOrder,
)
from scimeta.schema.generated.where import (
    EventWhere,
    FileWhere,
    MetricKeyWhere,
    MetricWhere,
)

__all__ = [
    "EventOrder",
    "EventWhere",
    "FileOrder",
    "FileWhere",
    "MetricKeyOrder",
    "MetricKeyWhere",
    "MetricOrder",
    "MetricWhere",
]
