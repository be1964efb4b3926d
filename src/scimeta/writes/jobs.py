"""Projects, jobs with server-allocated dotted numbers, file imports and gleaning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, String, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from scimeta import models
from scimeta.errors import BadUserInput, Conflict
from scimeta.models import FileRole, Status
from scimeta.writes.columns import Names
from scimeta.writes.core import FileSpec, MetricValue, record_metrics
from scimeta.writes.core.files import FileColumns, check_files, insert_files
from scimeta.writes.lifecycle import set_status
from scimeta.writes.transaction import Writer, check_version, global_id
from scimeta.writes.unique import column_values, create_unique


async def create_project(
    writer: Writer,
    *,
    name: str,
    directory: str | None = None,
    description: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> models.Project:
    """A new project; its name must be free. A name taken before this call and one taken
    by a concurrent call are refused alike, naming the project that has it."""

    async def taken() -> Conflict | None:
        namesake = (
            await writer.session.execute(select(models.Project).where(models.Project.name == name))
        ).scalar_one_or_none()
        if namesake is None:
            return None
        return Conflict(
            f"A project named {name!r} already exists ({global_id(namesake)}); pick another "
            "name or update that project.",
            reason="ALREADY_EXISTS",
            existingId=global_id(namesake),
        )

    values = {
        "name": name,
        "directory": directory,
        "description": description,
        "attributes": attributes or {},
    }
    return await create_unique(writer, models.Project, values, key=["name"], taken=taken)


async def create_job(
    writer: Writer,
    *,
    project_id: int | None,
    parent_id: int | None,
    task_name: str,
    title: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> models.Job:
    """A new job, numbered after the last one of its parent (or project).

    The counter row is locked while the number is taken, so concurrent creations under one
    parent queue there: numbers are unique and consecutive. A transaction that rolls back
    gives its number back, so there are no gaps either.
    """
    if not task_name:
        raise BadUserInput("taskName must not be empty.", field="taskName")
    if parent_id is not None:
        parent = await writer.lock(models.Job, parent_id)
        if project_id is not None and parent.project_id != project_id:
            raise BadUserInput(
                f"The parent job {global_id(parent)} belongs to another project.",
                field="parentId",
            )
        parent.last_child_number += 1
        number = f"{parent.number}.{parent.last_child_number}"
        project_id = parent.project_id
    elif project_id is not None:
        project = await writer.lock(models.Project, project_id)
        project.last_job_number += 1
        number = str(project.last_job_number)
    else:
        raise BadUserInput("A job needs a projectId or a parentId.", field="projectId")
    job = models.Job(
        project_id=project_id,
        parent_id=parent_id,
        number=number,
        task_name=task_name,
        title=title,
        attributes=attributes or {},
    )
    return await writer.create(job)


async def set_job_status(
    writer: Writer, job_id: int, status: Status, *, expected_version: int | None = None
) -> models.Job:
    job = await writer.lock(models.Job, job_id)
    check_version(job, expected_version)
    await set_status(writer, job, status)
    return job


async def import_file(
    writer: Writer,
    *,
    project_id: int,
    file: FileSpec,
    imported_from: str,
    job_id: int | None = None,
    parameter_name: str | None = None,
) -> models.File:
    """Register a file copied into the project from `imported_from`. Importing the same
    content (checksum) into a project twice is refused, naming the earlier import, also
    when the earlier import is a concurrent call that committed first."""
    if not imported_from:
        raise BadUserInput("importedFrom must name where the file came from.")
    if not file.checksum:
        raise BadUserInput(
            "An imported file needs its checksum: it is how a second import of the same "
            "content is detected.",
            field="checksum",
        )
    project = await writer.get(models.Project, project_id)
    row = file.row(project_id=project.id, imported_from=imported_from)
    row.imported_at = await writer.now()
    table = models.File

    async def taken() -> Conflict | None:
        earlier = (
            await writer.session.execute(
                select(table).where(
                    table.project_id == project.id,
                    table.checksum_algorithm == row.checksum_algorithm,
                    table.checksum == row.checksum,
                    table.imported_from.is_not(None),
                )
            )
        ).scalar_one_or_none()
        if earlier is None:
            return None
        return Conflict(
            f"This content ({row.checksum_algorithm} {row.checksum}) was already imported into "
            f"the project as {global_id(earlier)} from {earlier.imported_from}.",
            reason="ALREADY_EXISTS",
            existingId=global_id(earlier),
        )

    imported = await create_unique(
        writer,
        table,
        column_values(row),
        # the partial unique index uq_files_project_id_imported_checksum
        key=["project_id", "checksum_algorithm", "checksum"],
        where=table.imported_from.is_not(None),
        taken=taken,
    )
    if job_id is not None:
        await attach_files(
            writer,
            job_id,
            [(imported, FileRole.INPUT, parameter_name)],
            require_project=project.id,
        )
    return imported


async def attach_files(
    writer: Writer,
    job_id: int,
    uses: Sequence[tuple[models.File, FileRole, str | None]],
    *,
    require_project: int | None = None,
) -> list[models.JobFile]:
    job = await writer.get(models.Job, job_id)
    if require_project is not None and job.project_id != require_project:
        raise BadUserInput(f"The job {global_id(job)} belongs to another project.")
    links = [
        models.JobFile(job_id=job.id, file_id=file.id, role=role, parameter_name=parameter)
        for file, role, parameter in uses
    ]
    writer.session.add_all(links)
    await writer.flush()
    return links


@dataclass
class OutputFile:
    file: FileSpec
    parameter_name: str | None = None


@dataclass
class OutputFileColumns:
    """Output files as one list per column, entry n of each being file n's. `names` says
    how errors name a value: as in the list of objects the client sent
    (`files[3].file.path`) or in its columns (`fileColumns.file.path[3]`)."""

    file: FileColumns
    parameter_name: Sequence[str | None]
    names: Names = field(default_factory=lambda: Names("files"))

    def __len__(self) -> int:
        return len(self.file)

    @classmethod
    def of(cls, outputs: Sequence[OutputFile]) -> OutputFileColumns:
        """The columns of a list of output files, named in errors as that list."""
        return cls(
            file=FileColumns.of([output.file for output in outputs]),
            parameter_name=[output.parameter_name for output in outputs],
        )


async def glean_outputs(
    writer: Writer,
    job_id: int,
    files: OutputFileColumns | Sequence[OutputFile],
    metrics: Sequence[MetricValue],
    *,
    expected_version: int | None = None,
) -> models.Job:
    """Register all output files and KPIs of a job that has run, in one transaction: the
    files and their links to the job in one INSERT each, whatever their number."""
    columns = files if isinstance(files, OutputFileColumns) else OutputFileColumns.of(files)
    rows = check_files(columns.file, columns.names)
    job = await writer.lock(models.Job, job_id)
    check_version(job, expected_version)
    if job.status in (Status.PENDING, Status.CANCELLED):
        raise Conflict(
            f"Job {global_id(job)} is {job.status.value}: only a job that ran has outputs "
            "to glean. Set it RUNNING first.",
            reason="ILLEGAL_TRANSITION",
            current=job.status.value,
        )
    file_ids = await insert_files(writer, columns.file, rows, job.project_id)
    if file_ids:
        links = (
            func.unnest(
                literal(file_ids, ARRAY(BigInteger)),
                literal(list(columns.parameter_name), ARRAY(String)),
            )
            .table_valued("file_id", "parameter_name", with_ordinality="n")
            .render_derived()
        )
        await writer.session.execute(
            insert(models.JobFile).from_select(
                ["job_id", "file_id", "role", "parameter_name"],
                select(
                    literal(job.id, BigInteger),
                    links.c.file_id,
                    literal(FileRole.OUTPUT.value, String),
                    links.c.parameter_name,
                ).order_by(links.c.n),
            )
        )
    await record_metrics(writer, job, metrics)
    writer.event(
        job,
        "outputs_gleaned",
        {"files": list(columns.file.path), "metrics": [m.key for m in metrics]},
    )
    return job
