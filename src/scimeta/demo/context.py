"""What every domain loader of one demo load shares."""

from __future__ import annotations

from dataclasses import dataclass

from scimeta.demo.bulk import RowWriter
from scimeta.demo.events import EventLog
from scimeta.demo.metrics import MetricRows


@dataclass
class DemoLoad:
    """One load at one scale: the writer on its transaction, plus the events and metrics
    that domains add as they go and that are written once all their owners exist."""

    scale: int
    writer: RowWriter
    events: EventLog
    metrics: MetricRows
