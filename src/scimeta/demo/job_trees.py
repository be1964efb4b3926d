"""How a crystallography project's jobs unfold: the tree of jobs and sub-jobs, their
statuses and times, the files they read and write, and the KPIs they report."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scimeta.demo.crystallography import FILE_KINDS, TASKS, Task
from scimeta.models import FileRole, Status

_IMPORTED_NAMES = {
    "unmerged": "unmerged.mtz",
    "observed": "merged.mtz",
    "freerflag": "freer.mtz",
    "model": "search_model.pdb",
    "sequence": "sequence.fasta",
    "phases": "phases.mtz",
}


@dataclass(frozen=True)
class Protein:
    name: str
    space_group: str
    residues: int


@dataclass
class PlannedFile:
    kind: str
    path: str
    modified_at: datetime
    size_bytes: int
    annotation: str
    imported_from: str | None = None
    id: int = 0


@dataclass
class PlannedJob:
    number: str
    task: Task
    status: Status
    directory: str
    parent: PlannedJob | None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    children: list[PlannedJob] = field(default_factory=list)
    files: list[tuple[FileRole, str, PlannedFile]] = field(default_factory=list)
    kpis: list[tuple[str, float | str]] = field(default_factory=list)
    id: int = 0


class ProjectPlan:
    """The jobs of one project, run one after another as a person would, with pipelines
    running their sub-jobs in order and stopping at the first that fails."""

    def __init__(self, rng: random.Random, protein: Protein, owner: str, directory: str) -> None:
        self.rng = rng
        self.protein = protein
        self.owner = owner
        self.directory = directory
        self.resolution = round(rng.uniform(1.1, 2.9), 2)
        self.r_work = rng.uniform(0.42, 0.52)
        self.residues_built = 0
        self.latest: dict[str, PlannedFile] = {}
        self.files: list[PlannedFile] = []
        self.jobs: list[PlannedJob] = []
        self.top_level: list[PlannedJob] = []

    def run_top_level(self, task_name: str, status: Status, start: datetime) -> datetime:
        """Run the next top-level job; returns when the person starts the one after."""
        number = str(len(self.top_level) + 1)
        job = self._run(number, TASKS[task_name], status, start, None)
        self.top_level.append(job)
        last_activity = job.finished_at or job.started_at or start
        return last_activity + timedelta(minutes=self.rng.uniform(3, 240))

    def _run(
        self, number: str, task: Task, status: Status, start: datetime, parent: PlannedJob | None
    ) -> PlannedJob:
        directory = "/".join(f"job_{part}" for part in number.split("."))
        job = PlannedJob(number, task, status, f"{self.directory}/CCP4_JOBS/{directory}", parent)
        self.jobs.append(job)
        if status is Status.PENDING:
            return job
        if status is Status.CANCELLED and self.rng.random() < 0.4:
            job.finished_at = start  # cancelled while still queued
            return job
        job.started_at = start
        for parameter, kind in task.inputs:
            job.files.append(
                (FileRole.INPUT, parameter, self.latest.get(kind) or self._import(kind, start))
            )
        clock = start
        if task.children:
            # The sub-job at which a failed, running or cancelled pipeline stopped.
            stop = (
                len(task.children)
                if status is Status.SUCCEEDED
                else self.rng.randrange(len(task.children))
            )
            for position, child_task in enumerate(task.children[: stop + 1], start=1):
                child_status = Status.SUCCEEDED if position <= stop else status
                child_start = clock + timedelta(seconds=self.rng.uniform(5, 20))
                child = self._run(
                    f"{number}.{position}", TASKS[child_task], child_status, child_start, job
                )
                job.children.append(child)
                if child.finished_at is None:
                    return job
                clock = child.finished_at
            finish = clock + timedelta(seconds=self.rng.uniform(5, 30))
        else:
            if status is Status.RUNNING:
                return job
            minutes = self.rng.uniform(*task.minutes)
            if status is not Status.SUCCEEDED:
                minutes *= self.rng.uniform(0.1, 0.9)
            finish = start + timedelta(minutes=minutes)
        job.finished_at = finish
        if status is Status.SUCCEEDED:
            self._glean(job, finish)
        return job

    def _import(self, kind: str, at: datetime) -> PlannedFile:
        name = f"{self.protein.name}_{_IMPORTED_NAMES[kind]}"
        planned = PlannedFile(
            kind=kind,
            path=f"{self.directory}/CCP4_IMPORTED_FILES/{name}",
            modified_at=at,
            size_bytes=self._size(kind),
            annotation=f"Imported {name}",
            imported_from=f"/home/{self.owner}/data/{self.protein.name}/{name}",
        )
        self.files.append(planned)
        self.latest[kind] = planned
        return planned

    def _size(self, kind: str) -> int:
        if FILE_KINDS[kind].extension == "mtz":
            return self.rng.randint(500_000, 60_000_000)
        return self.rng.randint(2_000, 900_000)

    def _glean(self, job: PlannedJob, at: datetime) -> None:
        """Register a finished job's output files and KPIs."""
        for parameter, kind in job.task.outputs:
            planned = PlannedFile(
                kind=kind,
                path=f"{job.directory}/{parameter}.{FILE_KINDS[kind].extension}",
                modified_at=at,
                size_bytes=self._size(kind),
                annotation=f"{job.task.title} (job {job.number})",
            )
            self.files.append(planned)
            self.latest[kind] = planned
            job.files.append((FileRole.OUTPUT, parameter, planned))
        job.kpis = [(key, self._kpi(key, job.task)) for key in job.task.kpis]

    def _kpi(self, key: str, task: Task) -> float | str:
        rng = self.rng
        if key == "Rfactor":
            if task.name == "refmac":
                # Each refinement closes part of the gap to what the data allow;
                # pipelines report the figures of the refinement they ran.
                floor = 0.12 + 0.03 * self.resolution
                self.r_work = floor + (self.r_work - floor) * rng.uniform(0.55, 0.85)
            return round(self.r_work, 4)
        if key == "RFree":
            return round(self.r_work + rng.uniform(0.025, 0.06), 4)
        if key == "residuesBuilt":
            if not task.children:
                total = self.protein.residues
                self.residues_built = rng.randint(max(self.residues_built, int(0.8 * total)), total)
            return self.residues_built
        if key == "resolution":
            return self.resolution
        if key == "spaceGroup":
            return self.protein.space_group
        if key == "completeness":
            return round(rng.uniform(95.5, 99.9), 1)
        if key == "LLG":
            return round(rng.uniform(200, 3000), 1)
        if key == "TFZ":
            return round(rng.uniform(8, 35), 1)
        raise ValueError(f"no demo value for KPI {key}")
