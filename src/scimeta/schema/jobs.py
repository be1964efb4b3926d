"""Projects, their job trees, and the files jobs use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.schema.connections import list_field
from scimeta.schema.core import File, event_list, file_list, metric_list
from scimeta.schema.enums import FileRole, Status
from scimeta.schema.generated.aggregates import job_aggregate, job_groups
from scimeta.schema.inputs import jobs as inputs
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.pagination import Connection
from scimeta.schema.relations import Relation, one, reads

JobType = Annotated["Job", strawberry.lazy("scimeta.schema.jobs")]
JobConnectionType = Annotated["JobConnection", strawberry.lazy("scimeta.schema.jobs")]


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
        models.Job,
        connection=JobConnectionType,
        where=inputs.JobWhere,
        order=inputs.JobOrder,
        default_order=[OrderTerm(models.Job.number_path)],
        parent_key=models.Job.project_id,
        fixed=lambda: [models.Job.parent_id.is_(None)],
        description="Top-level jobs, by number (their sub-jobs are under `children`).",
    )
    all_jobs = list_field(
        JobType,
        models.Job,
        connection=JobConnectionType,
        where=inputs.JobWhere,
        order=inputs.JobOrder,
        default_order=[OrderTerm(models.Job.number_path)],
        parent_key=models.Job.project_id,
        description="Every job of the project at any depth, by number (1, 1.1, 1.2, 2).",
    )
    files = file_list(models.File.project_id, "Files of the project (imported or produced).")


@strawberry.type(description="A file a job reads or writes, for one of its parameters.")
class JobFile(Entity):
    __model__ = models.JobFile

    role: FileRole = strawberry.field(description="INPUT or OUTPUT.")
    parameter_name: str | None = strawberry.field(description="The job parameter it fills.")

    @strawberry.field(description="The file.")
    @reads(Relation(models.File, "file_id"))
    async def file(self, root: strawberry.Parent[models.JobFile], info: LoaderInfo) -> File:
        return await one(info, models.File, root.file_id)


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

    @strawberry.field(description="The project.")
    @reads(Relation(models.Project, "project_id"))
    async def project(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> Project:
        return await one(info, models.Project, root.project_id)

    @strawberry.field(description="The parent job, for a sub-job.")
    @reads(Relation(models.Job, "parent_id"))
    async def parent(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> Job | None:
        return await one(info, models.Job, root.parent_id)

    children = list_field(
        JobType,
        models.Job,
        connection=JobConnectionType,
        where=inputs.JobWhere,
        order=inputs.JobOrder,
        default_order=[OrderTerm(models.Job.number_path)],
        parent_key=models.Job.parent_id,
        description="Sub-jobs, by number.",
    )
    files = list_field(
        JobFile,
        models.JobFile,
        where=inputs.JobFileWhere,
        order=inputs.JobFileOrder,
        default_order=[OrderTerm(models.JobFile.role), OrderTerm(models.JobFile.parameter_name)],
        parent_key=models.JobFile.job_id,
        description="Files the job read or wrote, inputs first.",
    )
    metrics = metric_list(models.Metric.job_id, "KPIs of the job.")
    events = event_list("Job", "Events about the job, oldest first.")


@strawberry.type(description="A page of jobs, with aggregates over the whole list.")
class JobConnection(Connection[Job]):
    aggregate = job_aggregate
    groups = job_groups
