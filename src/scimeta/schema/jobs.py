"""Projects, their job trees, and the files jobs use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.models.ownership import relation
from scimeta.schema.connections import list_field
from scimeta.schema.core import File, event_list, file_list, metric_list
from scimeta.schema.enums import FileRole, Status
from scimeta.schema.generated.lists import job_file_list, job_list
from scimeta.schema.node import Entity
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import related

JobType = Annotated["Job", strawberry.lazy("scimeta.schema.jobs")]


@strawberry.type(description="A project: a directory of hierarchical jobs and their files.")
class Project(Entity):
    __model__ = models.Project

    name: str = strawberry.field(description="Unique project name.")
    directory: str | None = strawberry.field(description="Project directory.")
    description: str | None = strawberry.field(description="What the project is about.")
    last_job_number: int = strawberry.field(description="Last top-level job number handed out.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    jobs = list_field(
        JobType,
        relation(models.Project, "jobs"),
        resolver=job_list,
        default_order=[OrderTerm(models.Job.number_path)],
        fixed=lambda: [models.Job.parent_id.is_(None)],
        description="Top-level jobs, by number (their sub-jobs are under `children`).",
    )
    all_jobs = list_field(
        JobType,
        relation(models.Project, "jobs"),
        resolver=job_list,
        default_order=[OrderTerm(models.Job.number_path)],
        description="Every job of the project at any depth, by number (1, 1.1, 1.2, 2).",
    )
    files = file_list(
        relation(models.Project, "files"), "Files of the project (imported or produced)."
    )


@strawberry.type(description="A file a job reads or writes, for one of its parameters.")
class JobFile(Entity):
    __model__ = models.JobFile

    role: FileRole = strawberry.field(description="INPUT or OUTPUT.")
    parameter_name: str | None = strawberry.field(description="The job parameter it fills.")

    file: File = related(models.JobFile, "file", description="The file.")


@strawberry.type(description='A job, numbered "3", "3.1", "3.1.2" within its project.')
class Job(Entity):
    __model__ = models.Job

    number: str = strawberry.field(description="Dotted job number, unique in the project.")
    task_name: str = strawberry.field(description="The task (program) the job runs.")
    title: str | None = strawberry.field(description="Human-readable title.")
    status: Status = strawberry.field(description="Lifecycle status.")
    started_at: datetime | None = strawberry.field(description="When it started running.")
    finished_at: datetime | None = strawberry.field(description="When it finished.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    project: Project = related(models.Job, "project", description="The project.")

    parent: Job | None = related(models.Job, "parent", description="The parent job, for a sub-job.")

    children = list_field(
        JobType,
        relation(models.Job, "children"),
        resolver=job_list,
        default_order=[OrderTerm(models.Job.number_path)],
        description="Sub-jobs, by number.",
    )
    files = list_field(
        JobFile,
        relation(models.Job, "files"),
        resolver=job_file_list,
        default_order=[OrderTerm(models.JobFile.role), OrderTerm(models.JobFile.parameter_name)],
        description="Files the job read or wrote, inputs first.",
    )
    metrics = metric_list(relation(models.Job, "metrics"), "KPIs of the job.")
    events = event_list("Job", "Events about the job, oldest first.")
