"""Projects, their job trees, and the files jobs use."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.schema.core import Event, File, Metric
from scimeta.schema.enums import FileRole, Status
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.relations import events, many, one


@strawberry.type(description="A project: a directory of hierarchical jobs and their files.")
class Project(Entity):
    __model__ = models.Project

    name: str = strawberry.field(description="Unique project name.")
    directory: str | None = strawberry.field(description="Project directory.")
    description: str | None = strawberry.field(description="What the project is about.")
    last_job_number: int = strawberry.field(description="Last top-level job number handed out.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    @strawberry.field(description="Top-level jobs, by number.")
    async def jobs(self, root: strawberry.Parent[models.Project], info: LoaderInfo) -> list[Job]:
        return await many(
            info,
            models.Job,
            models.Job.project_id,
            root.id,
            models.Job.number_path,
            where=[models.Job.parent_id.is_(None)],
            variant="top-level",
        )

    @strawberry.field(description="Files of the project (imported or produced).")
    async def files(self, root: strawberry.Parent[models.Project], info: LoaderInfo) -> list[File]:
        return await many(info, models.File, models.File.project_id, root.id)


@strawberry.type(description="A file a job reads or writes, for one of its parameters.")
class JobFile(Entity):
    __model__ = models.JobFile

    role: FileRole = strawberry.field(description="INPUT or OUTPUT.")
    parameter_name: str | None = strawberry.field(description="The job parameter it fills.")

    @strawberry.field(description="The file.")
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
    async def project(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> Project:
        return await one(info, models.Project, root.project_id)

    @strawberry.field(description="The parent job, for a sub-job.")
    async def parent(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> Job | None:
        return await one(info, models.Job, root.parent_id)

    @strawberry.field(description="Sub-jobs, by number.")
    async def children(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> list[Job]:
        return await many(info, models.Job, models.Job.parent_id, root.id, models.Job.number_path)

    @strawberry.field(description="Files the job read or wrote.")
    async def files(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> list[JobFile]:
        return await many(info, models.JobFile, models.JobFile.job_id, root.id)

    @strawberry.field(description="KPIs of the job.")
    async def metrics(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> list[Metric]:
        return await many(info, models.Metric, models.Metric.job_id, root.id)

    @strawberry.field(description="Events about the job, oldest first.")
    async def events(self, root: strawberry.Parent[models.Job], info: LoaderInfo) -> list[Event]:
        return await events(info, "Job", root.id)
