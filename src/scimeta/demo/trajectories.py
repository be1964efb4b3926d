"""Machine-learned-potential runs: trajectories grown chunk by chunk, each chunk attempt
audited against a reference; a failed audit retrains the model and the chunk is retried."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scimeta.demo.atoms import SYSTEMS, initial_atoms
from scimeta.demo.context import DemoLoad
from scimeta.demo.files import file_row
from scimeta.demo.run_lifecycle import RunTimeline, claim
from scimeta.models import AuditStatus, Chunk, File, Status, Trajectory

AUDIT_THRESHOLD = 0.18  # eV/Å: a larger force error fails the audit
MAX_ATTEMPTS = 3
CASCADE_ROOT = "/scratch/cascade"
_AUDITOR = "auditor"


@dataclass(frozen=True)
class ChunkAttempt:
    trajectory: int
    index: int
    attempt: int
    model_version: str
    audit_status: AuditStatus
    frame_count: int
    generated_at: datetime
    audited_at: datetime | None
    force_error: float | None


@dataclass
class CascadePlan:
    system: str
    chunk_size: int
    chunks_per_trajectory: int
    initial_structures: list[dict[str, Any]]
    timeline: RunTimeline
    attempts: list[ChunkAttempt] = field(default_factory=list)


def cascade_plan(rng: random.Random, status: Status, queued_at: datetime) -> CascadePlan:
    """Trajectories of one system grown in lock step, chunk index by chunk index, until
    they are complete (SUCCEEDED), one chunk fails every attempt (FAILED), the run is
    stopped (CANCELLED) or each is waiting on an audit (RUNNING)."""
    system = rng.choice(sorted(SYSTEMS))
    plan = CascadePlan(
        system=system,
        chunk_size=rng.choice((25, 50, 100)),
        chunks_per_trajectory=rng.randint(4, 8),
        initial_structures=[initial_atoms(rng, system) for _ in range(rng.randint(1, 3))],
        timeline=RunTimeline(status=status, queued_at=queued_at),
    )
    if status is Status.PENDING:
        return plan
    start = claim(rng, plan.timeline)
    clocks = [start] * len(plan.initial_structures)
    chunks = plan.chunks_per_trajectory
    waiting = {t: rng.randrange(chunks) for t in range(len(clocks))}  # RUNNING only
    failing = (rng.randrange(len(clocks)), rng.randrange(chunks))  # FAILED only
    last_step = {Status.FAILED: failing[1], Status.CANCELLED: rng.randrange(chunks)}
    version = 1
    for index in range(last_step.get(status, chunks - 1) + 1):
        for trajectory, clock in enumerate(clocks):
            if status is Status.RUNNING and index > waiting[trajectory]:
                continue
            fails = rng.choices((0, 1, 2), weights=(70, 20, 10))[0]
            if status is Status.FAILED and (trajectory, index) == failing:
                fails = MAX_ATTEMPTS
            awaiting_audit = status is Status.RUNNING and index == waiting[trajectory]
            clock, version = _attempt_chunk(
                rng, plan, (trajectory, index), fails, awaiting_audit, clock, version
            )
            clocks[trajectory] = clock
    if status is not Status.RUNNING:
        plan.timeline.ended_at = max(clocks) + timedelta(seconds=rng.uniform(5, 60))
    if status is Status.FAILED:
        plan.timeline.error = {
            "type": "AuditFailure",
            "message": f"chunk {failing[1]} of trajectory {failing[0]} failed its audit "
            f"{MAX_ATTEMPTS} times",
        }
    return plan


def _attempt_chunk(
    rng: random.Random,
    plan: CascadePlan,
    chunk: tuple[int, int],
    fails: int,
    awaiting_audit: bool,
    clock: datetime,
    version: int,
) -> tuple[datetime, int]:
    """The attempts at one chunk (trajectory, index): `fails` failed audits, then one
    that passed or awaits its audit, unless every allowed attempt failed. Returns the time
    of the last attempt and the model version after it."""
    trajectory, index = chunk
    total = MAX_ATTEMPTS if fails >= MAX_ATTEMPTS else fails + 1
    for attempt in range(1, total + 1):
        generated = clock + timedelta(minutes=rng.uniform(2, 8))
        failed = attempt <= fails
        if failed:
            verdict = AuditStatus.FAILED
        else:
            verdict = AuditStatus.PENDING if awaiting_audit else AuditStatus.PASSED
        audited = None
        if verdict is not AuditStatus.PENDING:
            audited = generated + timedelta(minutes=rng.uniform(1, 3))
        plan.attempts.append(
            ChunkAttempt(
                trajectory=trajectory,
                index=index,
                attempt=attempt,
                model_version=f"mace-{plan.system}-v{version}",
                audit_status=verdict,
                frame_count=plan.chunk_size,
                generated_at=generated,
                audited_at=audited,
                force_error=_force_error(rng, verdict),
            )
        )
        clock = audited or generated
        if failed:
            version += 1  # retrained on the frames that failed the audit
    return clock, version


def _force_error(rng: random.Random, verdict: AuditStatus) -> float | None:
    if verdict is AuditStatus.PASSED:
        return round(rng.uniform(0.03, AUDIT_THRESHOLD * 0.9), 4)
    if verdict is AuditStatus.FAILED:
        return round(rng.uniform(AUDIT_THRESHOLD * 1.1, 1.5), 4)
    return None


def last_activity(plan: CascadePlan) -> datetime:
    times = [a.audited_at or a.generated_at for a in plan.attempts]
    return max(times, default=plan.timeline.started_at or plan.timeline.queued_at)


async def load_trajectories(demo: DemoLoad, runs: list[tuple[int, str, CascadePlan]]) -> None:
    """Trajectories and chunk attempts of new runs, with frame files of passed chunks,
    audit metrics and audit events."""
    writer = demo.writer
    trajectory_ids = iter(
        await writer.allocate_ids(Trajectory, sum(len(p.initial_structures) for *_, p in runs))
    )
    chunk_ids = iter(await writer.allocate_ids(Chunk, sum(len(p.attempts) for *_, p in runs)))
    passed = [a for *_, p in runs for a in p.attempts if a.audit_status is AuditStatus.PASSED]
    file_ids = iter(await writer.allocate_ids(File, len(passed)))
    trajectories, chunks, files = [], [], []
    for run_id, run_name, plan in runs:
        ids = []
        for index, atoms in enumerate(plan.initial_structures):
            ids.append(next(trajectory_ids))
            trajectories.append(
                {
                    "id": ids[-1],
                    "run_id": run_id,
                    "index": index,
                    "target_length": plan.chunk_size * plan.chunks_per_trajectory,
                    "init_atoms": atoms,
                }
            )
        for attempt in plan.attempts:
            chunk_id = next(chunk_ids)
            file_id = None
            if attempt.audit_status is AuditStatus.PASSED:
                file_id = next(file_ids)
                path = (
                    f"{CASCADE_ROOT}/{run_name}/traj{attempt.trajectory:02d}/"
                    f"chunk{attempt.index:03d}_attempt{attempt.attempt}.extxyz"
                )
                size = attempt.frame_count * 3_400
                files.append(
                    file_row(file_id, path, size_bytes=size, modified_at=attempt.generated_at)
                )
            chunks.append(
                {
                    "id": chunk_id,
                    "run_id": run_id,
                    "trajectory_id": ids[attempt.trajectory],
                    "index": attempt.index,
                    "attempt": attempt.attempt,
                    "model_version": attempt.model_version,
                    "audit_status": attempt.audit_status,
                    "frame_count": attempt.frame_count,
                    "file_id": file_id,
                }
            )
            if attempt.audited_at is not None and attempt.force_error is not None:
                demo.metrics.add("chunk_id", chunk_id, "max_force_error", attempt.force_error)
                demo.events.status_changed(
                    "Chunk",
                    chunk_id,
                    attempt.audited_at,
                    _AUDITOR,
                    (AuditStatus.PENDING, attempt.audit_status),
                    max_force_error=attempt.force_error,
                )
    await writer.copy(File, files)
    await writer.copy(Trajectory, trajectories)
    await writer.copy(Chunk, chunks)
