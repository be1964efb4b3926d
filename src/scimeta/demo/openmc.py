"""What a criticality simulation run leaves behind: its artifacts phase by phase, the keff
summary of a finished run, and what agents planned and reported about it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimeta.demo.context import DemoLoad
from scimeta.demo.files import file_row
from scimeta.demo.run_lifecycle import RunTimeline
from scimeta.demo.study_specs import expected_keff
from scimeta.models import AgentOutput, File, RunArtifact, RunPhase, Status

AGENT_SCHEMA_VERSION = "0.1"
SIMULATION_ROOT = "/srv/aonp/runs"
# The artifact a phase leaves once the run has moved past it.
_ARTIFACTS = (
    (RunPhase.EXECUTE, "bundle", "bundle.tar.gz"),
    (RunPhase.EXTRACT, "statepoint", "statepoint.{batches}.h5"),
    (RunPhase.DONE, "parquet", "summary.parquet"),
)
_ARTIFACT_SIZES = {
    "bundle": (20_000, 200_000),
    "statepoint": (5e6, 9e8),
    "parquet": (4_000, 60_000),
}


@dataclass(frozen=True)
class SimulationRun:
    run_id: int
    name: str
    spec: dict[str, Any]
    timeline: RunTimeline
    rng: random.Random


def _summary(run: SimulationRun) -> dict[str, float]:
    settings = run.spec["settings"]
    active = settings["batches"] - settings["inactive"]
    # Statistical error shrinks with the square root of the neutron histories tallied.
    std = 0.75 / math.sqrt(settings["particles"] * active) * run.rng.uniform(0.9, 1.1)
    keff = expected_keff(run.spec) + run.rng.gauss(0.0, std)
    return {
        "keff": round(keff, 5),
        "keff_std": round(std, 6),
        "keff_uncertainty_pcm": round(std * 1e5, 1),
        "n_batches": settings["batches"],
        "n_inactive": settings["inactive"],
        "n_particles": settings["particles"],
    }


def _agent_output(
    run_id: int, agent: str, kind: str, data: dict[str, Any], at: datetime
) -> dict[str, object]:
    return {
        "run_id": run_id,
        "agent": agent,
        "kind": kind,
        "data": data,
        "schema_version": AGENT_SCHEMA_VERSION,
        "created_at": at,
        "updated_at": at,
    }


def _plan(run: SimulationRun) -> dict[str, Any]:
    moderator = run.spec["materials"]["moderator"]
    return {
        "objective": "estimate keff of the pin cell",
        "geometry_changes": [],
        "material_updates": [{"material": "moderator", "boron_ppm": moderator["boron_ppm"]}],
        "rationale": "boron concentration scan at fixed enrichment",
    }


def _report(summary: dict[str, float]) -> dict[str, Any]:
    keff, std = summary["keff"], summary["keff_std"]
    if keff - 3 * std > 1.0:
        verdict = "supercritical"
    elif keff + 3 * std < 1.0:
        verdict = "subcritical"
    else:
        verdict = "critical"
    return {"verdict": verdict, "summary": f"keff = {keff:.5f} ± {std:.5f}", **summary}


async def load_simulation_results(demo: DemoLoad, runs: list[SimulationRun]) -> None:
    produced = []
    for run in runs:
        reached = dict(run.timeline.phases)
        for phase, role, name in _ARTIFACTS:
            if phase in reached:
                produced.append((run, role, name, reached[phase]))
    file_ids = iter(await demo.writer.allocate_ids(File, len(produced)))
    files, artifacts, outputs = [], [], []
    for run, role, name, at in produced:
        file_id = next(file_ids)
        batches = run.spec["settings"]["batches"]
        path = f"{SIMULATION_ROOT}/{run.name}/{name.format(batches=batches)}"
        size = int(run.rng.uniform(*_ARTIFACT_SIZES[role]))
        files.append(file_row(file_id, path, size_bytes=size, modified_at=at))
        artifacts.append({"run_id": run.run_id, "file_id": file_id, "role": role})
    for run in runs:
        if run.rng.random() < 0.4:
            outputs.append(
                _agent_output(
                    run.run_id, "planner", "simulation_plan", _plan(run), run.timeline.queued_at
                )
            )
        if run.timeline.status is Status.SUCCEEDED and run.timeline.ended_at is not None:
            summary = _summary(run)
            for key, value in summary.items():
                demo.metrics.add("run_id", run.run_id, key, value)
            outputs.append(
                _agent_output(
                    run.run_id, "analyst", "report", _report(summary), run.timeline.ended_at
                )
            )
    await demo.writer.copy(File, files)
    await demo.writer.copy(RunArtifact, artifacts)
    await demo.writer.copy(AgentOutput, outputs)
