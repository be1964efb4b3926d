"""Runs: criticality simulations of the pin-cell studies and machine-learned-potential
trajectory runs, in every status and phase, with their lifecycle events."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from scimeta.demo.context import DemoLoad
from scimeta.demo.determinism import BASE_TIME, rng_for
from scimeta.demo.openmc import SIMULATION_ROOT, SimulationRun, load_simulation_results
from scimeta.demo.run_lifecycle import RunTimeline, simulation_timeline
from scimeta.demo.study_specs import load_spec_studies, spec_study_count
from scimeta.demo.trajectories import (
    AUDIT_THRESHOLD,
    CASCADE_ROOT,
    CascadePlan,
    cascade_plan,
    last_activity,
    load_trajectories,
)
from scimeta.models import Run, RunPhase, Status

_S, _R, _F, _P, _C = (
    Status.SUCCEEDED,
    Status.RUNNING,
    Status.FAILED,
    Status.PENDING,
    Status.CANCELLED,
)
_BUNDLE, _EXECUTE, _EXTRACT, _DONE = RunPhase
# The first simulations show every status and phase; later ones are drawn by weight.
_SIMULATION_OPENING = (
    (_S, _DONE), (_R, _EXECUTE), (_F, _EXECUTE), (_P, _BUNDLE), (_R, _EXTRACT), (_C, _BUNDLE),
    (_S, _DONE),
)  # fmt: skip
_SIMULATION_STATES = {
    (_S, _DONE): 55, (_F, _BUNDLE): 2, (_F, _EXECUTE): 6, (_F, _EXTRACT): 2, (_R, _BUNDLE): 2,
    (_R, _EXECUTE): 8, (_R, _EXTRACT): 2, (_P, _BUNDLE): 18, (_C, _BUNDLE): 3, (_C, _EXECUTE): 2,
}  # fmt: skip
_CASCADE_OPENING = (_R, _S, _F)
_CASCADE_STATES = {_S: 55, _R: 15, _F: 10, _P: 12, _C: 8}


def run_count(scale: int) -> int:
    return 10 * scale


@dataclass
class _PlannedRun:
    name: str
    rng: random.Random
    timeline: RunTimeline
    study: tuple[int, dict[str, Any]] | None = None
    cascade: CascadePlan | None = None
    id: int = 0


def _plan(index: int, studies: list[tuple[int, dict[str, Any]]]) -> _PlannedRun:
    """Every third run grows trajectories; the others simulate a study that already
    existed at the smallest scale that has this run, so the run is the same at all scales."""
    rng = rng_for("run", index)
    name = f"run_{index + 1:05d}"
    queued_at = BASE_TIME + timedelta(minutes=7 * index + rng.uniform(0, 5))
    if index % 3 == 2:
        ordinal = index // 3
        status = (
            _CASCADE_OPENING[ordinal]
            if ordinal < len(_CASCADE_OPENING)
            else _draw(rng, _CASCADE_STATES)
        )
        cascade = cascade_plan(rng, status, queued_at)
        return _PlannedRun(name, rng, cascade.timeline, cascade=cascade)
    ordinal = index - index // 3
    if ordinal < len(_SIMULATION_OPENING):
        status, phase = _SIMULATION_OPENING[ordinal]
    else:
        status, phase = _draw(rng, _SIMULATION_STATES)
    study = studies[rng.randrange(spec_study_count(index // 10 + 1))]
    return _PlannedRun(name, rng, simulation_timeline(rng, status, phase, queued_at), study=study)


_State = TypeVar("_State")


def _draw(rng: random.Random, weights: dict[_State, int]) -> _State:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _row(run: _PlannedRun) -> dict[str, object]:
    timeline = run.timeline
    holder = timeline.holder
    if run.cascade is not None:
        attributes = {
            "engine": "cascade",
            "system": run.cascade.system,
            "chunk_size": run.cascade.chunk_size,
            "audit_threshold_ev_per_angstrom": AUDIT_THRESHOLD,
            "run_directory": f"{CASCADE_ROOT}/{run.name}",
        }
        lease_expires_at = timeline.lease_expires_at(last_activity(run.cascade))
    else:
        attributes = {
            "engine": "openmc",
            "openmc_version": "0.15.0",
            "run_directory": f"{SIMULATION_ROOT}/{run.name}",
        }
        last_phase_at = timeline.phases[-1][1] if timeline.phases else timeline.queued_at
        lease_expires_at = timeline.lease_expires_at(last_phase_at)
    return {
        "name": run.name,
        "study_id": None if run.study is None else run.study[0],
        "status": timeline.status,
        "phase": timeline.phase,
        "claimed_by": None if holder is None else holder.worker,
        "lease_token": timeline.lease_token,
        "lease_expires_at": lease_expires_at,
        "attempt": len(timeline.claims),
        "started_at": timeline.started_at,
        "ended_at": timeline.ended_at,
        "error": timeline.error,
        "attributes": attributes,
        # Queue time, so that claiming "the oldest claimable run" follows the queue.
        "created_at": timeline.queued_at,
        "updated_at": timeline.ended_at or timeline.started_at or timeline.queued_at,
    }


def _add_events(demo: DemoLoad, run: _PlannedRun) -> None:
    timeline, events = run.timeline, demo.events
    created = {"status": Status.PENDING.value}
    if timeline.phase is not None:
        created["phase"] = RunPhase.BUNDLE.value
    events.add("Run", run.id, "created", timeline.queued_at, "api", created)
    for attempt, claim in enumerate(timeline.claims, start=1):
        events.add("Run", run.id, "claimed", claim.at, claim.worker, {"attempt": attempt})
        if attempt == 1:
            events.status_changed("Run", run.id, claim.at, claim.worker, (_P, _R))
        if claim.expired_at is not None:
            events.add(
                "Run", run.id, "lease_expired", claim.expired_at, None, {"worker": claim.worker}
            )
    worker = timeline.claims[-1].worker if timeline.claims else None
    for phase, at in timeline.phases:
        events.add("Run", run.id, "phase_started", at, worker, {"phase": phase.value})
        if phase is RunPhase.EXTRACT and timeline.execute_seconds is not None:
            completed = {"exit_code": 0, "elapsed_seconds": timeline.execute_seconds}
            events.add("Run", run.id, "simulation_completed", at, worker, completed)
    if timeline.ended_at is None:
        return
    result: dict[str, Any] = {} if timeline.error is None else {"error": timeline.error}
    if worker is None:
        events.status_changed("Run", run.id, timeline.ended_at, "api", (_P, timeline.status))
        return
    released = {"status": timeline.status.value} | result
    events.add("Run", run.id, "released", timeline.ended_at, worker, released)
    events.status_changed("Run", run.id, timeline.ended_at, worker, (_R, timeline.status), **result)


async def load_runs(demo: DemoLoad) -> None:
    """Runs that do not exist yet, with their artifacts, summaries, agent outputs,
    trajectories and events."""
    studies = await load_spec_studies(demo.writer, demo.scale)
    planned = [_plan(index, studies) for index in range(run_count(demo.scale))]
    new_ids = await demo.writer.insert_new(Run, [_row(run) for run in planned], key="name")
    simulations, cascades = [], []
    for run in planned:
        if run.name not in new_ids:
            continue
        run.id = new_ids[run.name]
        _add_events(demo, run)
        if run.cascade is not None:
            cascades.append((run.id, run.name, run.cascade))
        elif run.study is not None:
            simulations.append(SimulationRun(run.id, run.name, run.study[1], run.timeline, run.rng))
    await load_simulation_results(demo, simulations)
    await load_trajectories(demo, cascades)
