"""The life of a run as workers see it: queued, claimed with a lease (again, when a lease
ran out), moved through its phases, and released with its result."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scimeta.demo.determinism import random_uuid
from scimeta.models import RunPhase, Status

LEASE = timedelta(minutes=5)
_WORKERS = tuple(f"worker-{number:02d}" for number in range(1, 9))
# Seconds each simulation phase takes.
_PHASE_SECONDS = {
    RunPhase.BUNDLE: (5.0, 20.0),
    RunPhase.EXECUTE: (30.0, 900.0),
    RunPhase.EXTRACT: (3.0, 15.0),
}
_PHASE_ORDER = (RunPhase.BUNDLE, RunPhase.EXECUTE, RunPhase.EXTRACT, RunPhase.DONE)


@dataclass
class Claim:
    worker: str
    at: datetime
    # Set when the worker stopped renewing and the lease ran out.
    expired_at: datetime | None = None


@dataclass
class RunTimeline:
    status: Status
    queued_at: datetime
    phase: RunPhase | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    claims: list[Claim] = field(default_factory=list)
    phases: list[tuple[RunPhase, datetime]] = field(default_factory=list)
    execute_seconds: float | None = None
    lease_token: uuid.UUID | None = None
    error: dict[str, Any] | None = None

    @property
    def holder(self) -> Claim | None:
        """The claim whose lease is held now: only a running run has one."""
        return self.claims[-1] if self.status is Status.RUNNING and self.claims else None

    def lease_expires_at(self, last_activity: datetime) -> datetime | None:
        return None if self.holder is None else last_activity + LEASE


def claim(rng: random.Random, timeline: RunTimeline) -> datetime:
    """Claim the queued run, sometimes after an earlier lease ran out; returns when the
    current holder started working."""
    claimed_at = timeline.queued_at + timedelta(seconds=rng.uniform(5, 1200))
    if rng.random() < 0.1:
        abandoned = Claim(rng.choice(_WORKERS), claimed_at, expired_at=claimed_at + LEASE)
        timeline.claims.append(abandoned)
        claimed_at = claimed_at + LEASE + timedelta(seconds=rng.uniform(1, 60))
    timeline.claims.append(Claim(rng.choice(_WORKERS), claimed_at))
    timeline.started_at = timeline.claims[0].at
    if timeline.status is Status.RUNNING:
        timeline.lease_token = random_uuid(rng)
    return claimed_at


def simulation_timeline(
    rng: random.Random, status: Status, phase: RunPhase, queued_at: datetime
) -> RunTimeline:
    """A simulation that got as far as `phase` and ended there with `status`."""
    timeline = RunTimeline(status=status, queued_at=queued_at, phase=phase)
    if status is Status.PENDING or (status is Status.CANCELLED and phase is RunPhase.BUNDLE):
        if status is Status.CANCELLED:
            timeline.ended_at = queued_at + timedelta(minutes=rng.uniform(1, 60))
        return timeline
    clock = claim(rng, timeline)
    for current in _PHASE_ORDER:
        timeline.phases.append((current, clock))
        if current is phase and status is not Status.SUCCEEDED:
            break
        if current is RunPhase.DONE:
            timeline.ended_at = clock
            return timeline
        seconds = rng.uniform(*_PHASE_SECONDS[current])
        if current is RunPhase.EXECUTE:
            timeline.execute_seconds = round(seconds, 1)
        clock += timedelta(seconds=seconds)
    if status is not Status.RUNNING:
        # Failed or cancelled part-way through the phase it was in.
        seconds = rng.uniform(*_PHASE_SECONDS[phase]) * rng.uniform(0.1, 0.9)
        timeline.ended_at = clock + timedelta(seconds=seconds)
    if status is Status.FAILED:
        timeline.error = _failure(rng, phase)
    return timeline


def _failure(rng: random.Random, phase: RunPhase) -> dict[str, Any]:
    messages = {
        RunPhase.BUNDLE: ("ValidationError", "material 'fuel' has no nuclide data at 565 K"),
        RunPhase.EXECUTE: (
            "RuntimeError",
            f"openmc exited with code {rng.choice((1, 137, 139))} after the inactive batches",
        ),
        RunPhase.EXTRACT: ("KeyError", "statepoint has no tally named 'k-combined'"),
    }
    error_type, message = messages.get(phase, ("RuntimeError", "run ended unexpectedly"))
    return {"type": error_type, "message": message, "phase": phase.value}
