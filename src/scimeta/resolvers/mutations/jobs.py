"""Mutations of projects and jobs (seed 001): numbering, status, imports, gleaning."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.resolvers.mutations.base import (
    WriteInfo,
    capped,
    json_object,
    optional_row_id,
    replayed,
    row_id,
    update_node,
    write,
)
from scimeta.resolvers.mutations.core import (
    FileColumnsInput,
    FileInput,
    MetricInput,
    metric_specs,
)
from scimeta.schema.core import File
from scimeta.schema.enums import Status
from scimeta.schema.jobs import Job, Project
from scimeta.writes import jobs as writes
from scimeta.writes.columns import Names, check_columns, nulls

MAX_OUTPUT_FILES = 10_000


@strawberry.input(description="A new project.")
class CreateProjectInput:
    name: str = strawberry.field(description="Unique project name.")
    directory: str | None = strawberry.field(default=None, description="Project directory.")
    description: str | None = strawberry.field(default=None, description="What it is about.")
    attributes: JSON | None = strawberry.field(default=None, description="Lab-specific fields.")


@strawberry.input(description="Changes to a project; fields left out keep their value.")
class UpdateProjectInput:
    id: relay.GlobalID
    directory: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the project changed."
    )


@strawberry.type(description="The project.")
class ProjectPayload:
    project: Project


@strawberry.input(description="A new job, top-level in a project or under a parent job.")
class CreateJobInput:
    project_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The project, for a top-level job."
    )
    parent_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The parent job, for a sub-job; its project is the job's."
    )
    task_name: str = strawberry.field(description="The task (plugin) the job runs.")
    title: str | None = strawberry.field(default=None, description="Human-readable title.")
    attributes: JSON | None = strawberry.field(default=None, description="Lab-specific fields.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first call's job and creates none.",
    )


@strawberry.type(description="The job, and whether an earlier call with the key made it.")
class CreateJobPayload:
    job: Job
    replayed: bool = strawberry.field(
        description="True if the idempotency key matched an earlier call: nothing was written."
    )


@strawberry.input(description="A job's next status.")
class SetJobStatusInput:
    id: relay.GlobalID
    status: Status
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the job changed."
    )


@strawberry.type(description="The job.")
class JobPayload:
    job: Job


@strawberry.input(description="Changes to a job; fields left out keep their value.")
class UpdateJobInput:
    id: relay.GlobalID
    title: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET
    expected_version: int | None = None


@strawberry.input(description="A file copied into a project from elsewhere.")
class ImportFileInput:
    project_id: relay.GlobalID
    file: FileInput = strawberry.field(description="The file as it is now, in the project.")
    imported_from: str = strawberry.field(description="Where it was copied from.")
    job_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A job that takes the file as input."
    )
    parameter_name: str | None = strawberry.field(
        default=None, description="The job parameter the file is for."
    )
    idempotency_key: str | None = None


@strawberry.type(description="The imported file.")
class ImportFilePayload:
    file: File
    replayed: bool


@strawberry.input(description="An output file of a job.")
class OutputFileInput:
    file: FileInput
    parameter_name: str | None = strawberry.field(
        default=None, description="The job parameter that produced it."
    )


@strawberry.input(
    description="Output files as one list per column, entry n of each being file n's: the "
    "same rows as a list of OutputFileInput, checked by the same rules, for less work per "
    "file on the server and a smaller request. Errors name a value by its column and "
    "position, as fileColumns.file.path[3]."
)
class OutputFileColumnsInput:
    file: FileColumnsInput = strawberry.field(
        description="The files; the length of file.path is their number (at most "
        f"{MAX_OUTPUT_FILES})."
    )
    parameter_name: list[str | None] | None = strawberry.field(
        default=None,
        description="The job parameters that produced them; left out, null for all.",
    )


@strawberry.input(description="All output files and KPIs of a job that ran.")
class GleanJobOutputsInput:
    job_id: relay.GlobalID
    files: list[OutputFileInput] = strawberry.field(
        default_factory=list, description=f"Output files (at most {MAX_OUTPUT_FILES})."
    )
    file_columns: OutputFileColumnsInput | None = strawberry.field(
        default=None, description="The same output files as columns, instead of files."
    )
    metrics: list[MetricInput] = strawberry.field(
        default_factory=list, description="KPIs, float or text."
    )
    expected_version: int | None = None


def _outputs(
    files: list[OutputFileInput], columns: OutputFileColumnsInput | None
) -> writes.OutputFileColumns:
    """The output files of either form as columns, checked for the cap and, as columns,
    for their lengths; the write function checks their values."""
    if columns is None:
        capped(files, "files", MAX_OUTPUT_FILES)
        return writes.OutputFileColumns.of(
            [
                writes.OutputFile(file=output.file.spec(), parameter_name=output.parameter_name)
                for output in files
            ]
        )
    if files:
        raise BadUserInput("Give the files as files or as fileColumns, not both.", field="files")
    names = Names("fileColumns", columnar=True)
    rows = check_columns(
        names,
        MAX_OUTPUT_FILES,
        "file.path",
        {**columns.file.columns(), "parameterName": columns.parameter_name},
    )
    return writes.OutputFileColumns(
        file=columns.file.files(rows),
        parameter_name=nulls(columns.parameter_name, rows),
        names=names,
    )


@strawberry.type
class JobMutations:
    @strawberry.mutation(
        description="Create a project (seed 001 Project). A name already taken is refused "
        "(CONFLICT, ALREADY_EXISTS, with existingId)."
    )
    async def create_project(self, info: WriteInfo, input: CreateProjectInput) -> ProjectPayload:
        attributes = json_object(input.attributes, "attributes")
        async with write(info, server="projects") as writer:
            project = await writes.create_project(
                writer,
                name=input.name,
                directory=input.directory,
                description=input.description,
                attributes=attributes,
            )
        return ProjectPayload(project=project)  # type: ignore[arg-type]

    @strawberry.mutation(description="Change a project's directory, description or attributes.")
    async def update_project(self, info: WriteInfo, input: UpdateProjectInput) -> ProjectPayload:
        project = await update_node(info, models.Project, input)
        return ProjectPayload(project=project)

    @strawberry.mutation(
        description="Create a job; the server gives it the next number under its parent "
        '("3", "3.1", "3.1.2"), unique and gap-free even when many clients create at once.'
    )
    async def create_job(self, info: WriteInfo, input: CreateJobInput) -> CreateJobPayload:
        project_id = optional_row_id(input.project_id, models.Project, "projectId")
        parent_id = optional_row_id(input.parent_id, models.Job, "parentId")
        attributes = json_object(input.attributes, "attributes")
        async with write(info) as writer:
            earlier, idempotency = await replayed(
                writer, models.Job, input.idempotency_key, "createJob", vars(input)
            )
            if earlier is not None:
                return CreateJobPayload(job=earlier, replayed=True)  # type: ignore[arg-type]
            job = await writes.create_job(
                writer,
                project_id=project_id,
                parent_id=parent_id,
                task_name=input.task_name,
                title=input.title,
                attributes=attributes,
            )
            await idempotency.finish(job)
        return CreateJobPayload(job=job, replayed=False)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a job through its lifecycle: PENDING -> RUNNING -> SUCCEEDED, FAILED "
        "or CANCELLED; FAILED or CANCELLED -> PENDING to retry. startedAt and finishedAt are "
        "set by the server. Other moves are refused (CONFLICT, ILLEGAL_TRANSITION)."
    )
    async def set_job_status(self, info: WriteInfo, input: SetJobStatusInput) -> JobPayload:
        job_id = row_id(input.id, models.Job, "id")
        async with write(info) as writer:
            job = await writes.set_job_status(
                writer,
                job_id,
                models.Status(input.status.value),
                expected_version=input.expected_version,
            )
        return JobPayload(job=job)  # type: ignore[arg-type]

    @strawberry.mutation(description="Change a job's title or attributes.")
    async def update_job(self, info: WriteInfo, input: UpdateJobInput) -> JobPayload:
        job = await update_node(info, models.Job, input)
        return JobPayload(job=job)

    @strawberry.mutation(
        description="Register a file imported into a project (seed 001 FileImport), optionally "
        "as a job's input. The same content (checksum) imported twice into one project is "
        "refused (CONFLICT, ALREADY_EXISTS, with existingId)."
    )
    async def import_file(self, info: WriteInfo, input: ImportFileInput) -> ImportFilePayload:
        project_id = row_id(input.project_id, models.Project, "projectId")
        job_id = optional_row_id(input.job_id, models.Job, "jobId")
        async with write(info) as writer:
            earlier, idempotency = await replayed(
                writer, models.File, input.idempotency_key, "importFile", vars(input)
            )
            if earlier is not None:
                return ImportFilePayload(file=earlier, replayed=True)  # type: ignore[arg-type]
            file = await writes.import_file(
                writer,
                project_id=project_id,
                file=input.file.spec(),
                imported_from=input.imported_from,
                job_id=job_id,
                parameter_name=input.parameter_name,
            )
            await idempotency.finish(file)
        return ImportFilePayload(file=file, replayed=False)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Register all output files and KPIs of a job that ran, in one call "
        f"(seed 001 glean_job_files and KPI gleaning); at most {MAX_OUTPUT_FILES} files."
    )
    async def glean_job_outputs(self, info: WriteInfo, input: GleanJobOutputsInput) -> JobPayload:
        job_id = row_id(input.job_id, models.Job, "jobId")
        files = _outputs(input.files, input.file_columns)
        metrics = metric_specs(input.metrics)
        async with write(info) as writer:
            job = await writes.glean_outputs(
                writer, job_id, files, metrics, expected_version=input.expected_version
            )
        return JobPayload(job=job)  # type: ignore[arg-type]
