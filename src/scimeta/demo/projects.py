"""Crystallography projects with their job trees, job files, imported files and KPIs."""

from __future__ import annotations

from datetime import timedelta

from scimeta.demo.context import DemoLoad
from scimeta.demo.crystallography import FILE_KINDS, FOLLOW_UP_TASKS, OPENING_TASKS
from scimeta.demo.determinism import BASE_TIME, rng_for
from scimeta.demo.files import file_row
from scimeta.demo.job_trees import ProjectPlan, Protein
from scimeta.models import File, Job, JobFile, Project, Status

_PROTEINS = (
    Protein("lysozyme", "P 43 21 2", 129),
    Protein("thaumatin", "P 41 21 2", 207),
    Protein("insulin", "I 21 3", 51),
    Protein("trypsin", "P 21 21 21", 223),
    Protein("myoglobin", "P 1 21 1", 153),
    Protein("thermolysin", "P 61 2 2", 316),
    Protein("proteinase-k", "P 43 21 2", 279),
    Protein("concanavalin-a", "I 2 2 2", 237),
    Protein("glucose-isomerase", "I 2 2 2", 388),
    Protein("ferritin", "F 4 3 2", 174),
)
_OWNERS = ("alice", "bilal", "chen", "dana")
_FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


def project_count(scale: int) -> int:
    return 1 + scale // 5


def _plan_project(index: int) -> tuple[dict[str, object], ProjectPlan]:
    rng = rng_for("project", index)
    protein = _PROTEINS[index % len(_PROTEINS)]
    owner = _OWNERS[index % len(_OWNERS)]
    name = f"{protein.name}-{index + 1:03d}"
    directory = f"/home/{owner}/ccp4i2-projects/{name}"
    plan = ProjectPlan(rng, protein, owner, directory)

    tasks = [rng.choice(OPENING_TASKS), "phaser_pipeline"]
    if rng.random() < 0.7:
        tasks.append("modelcraft")
    tasks += [rng.choice(FOLLOW_UP_TASKS) for _ in range(rng.randint(3, 7))]
    if rng.random() < 0.4:
        tasks.append("SubstituteLigand")
    tasks.append("validate_protein")
    if index == 0:
        # The first project, the one every scale has, shows each status once at its end.
        statuses = [Status.SUCCEEDED] * (len(tasks) - 4)
        statuses += [Status.CANCELLED, Status.FAILED, Status.RUNNING, Status.PENDING]
    else:
        statuses = [rng.choices(_FINISHED, weights=(80, 13, 7))[0] for _ in tasks]
        if rng.random() < 0.5:
            statuses[-2:] = [Status.RUNNING, Status.PENDING]

    clock = BASE_TIME + timedelta(days=index, hours=rng.uniform(0, 8))
    for task_name, status in zip(tasks, statuses, strict=True):
        clock = plan.run_top_level(task_name, status, clock)
    row: dict[str, object] = {
        "name": name,
        "directory": directory,
        "description": f"Structure of {protein.name} in {protein.space_group}",
        "last_job_number": len(plan.top_level),
        "attributes": {"owner": owner, "protein": protein.name},
    }
    return row, plan


async def load_projects(demo: DemoLoad) -> None:
    """Projects that do not exist yet, each with its whole job tree."""
    planned = [_plan_project(index) for index in range(project_count(demo.scale))]
    new_ids = await demo.writer.insert_new(Project, [row for row, _ in planned], key="name")
    plans = [(new_ids[row["name"]], plan) for row, plan in planned if row["name"] in new_ids]
    job_ids = iter(await demo.writer.allocate_ids(Job, sum(len(p.jobs) for _, p in plans)))
    file_ids = iter(await demo.writer.allocate_ids(File, sum(len(p.files) for _, p in plans)))
    files: list[dict[str, object]] = []
    jobs: list[dict[str, object]] = []
    job_files: list[dict[str, object]] = []
    for project_id, plan in plans:
        for planned_file in plan.files:
            planned_file.id = next(file_ids)
            kind = FILE_KINDS[planned_file.kind]
            imported = planned_file.imported_from is not None
            files.append(
                file_row(
                    planned_file.id,
                    planned_file.path,
                    size_bytes=planned_file.size_bytes,
                    modified_at=planned_file.modified_at,
                    mimetype=kind.mimetype,
                    project_id=project_id,
                    annotation=planned_file.annotation,
                    content_flag=kind.content_flag,
                    sub_type=kind.sub_type,
                    imported_from=planned_file.imported_from,
                    imported_at=planned_file.modified_at if imported else None,
                )
            )
        for job in plan.jobs:
            job.id = next(job_ids)
            jobs.append(
                {
                    "id": job.id,
                    "project_id": project_id,
                    "parent_id": None if job.parent is None else job.parent.id,
                    "number": job.number,
                    "last_child_number": len(job.children),
                    "task_name": job.task.name,
                    "title": job.task.title,
                    "status": job.status,
                    "started_at": job.started_at,
                    "finished_at": job.finished_at,
                    "attributes": {"job_directory": job.directory},
                }
            )
            job_files.extend(
                {"job_id": job.id, "file_id": used.id, "role": role, "parameter_name": parameter}
                for role, parameter, used in job.files
            )
            for key, value in job.kpis:
                demo.metrics.add("job_id", job.id, key, value)
            demo.events.lifecycle(
                "Job", job.id, plan.owner, job.status, job.started_at, job.finished_at
            )
    await demo.writer.copy(File, files)
    await demo.writer.copy(Job, jobs)
    await demo.writer.copy(JobFile, job_files)
