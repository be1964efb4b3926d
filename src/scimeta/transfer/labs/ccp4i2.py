"""`scimeta import ccp4i2 LOCATION`: a CCP4i2 project database (seed 001) onto projects,
jobs with their dotted numbers, files, job files, metric keys and metrics.

LOCATION is the SQLite file of CCP4i2's Django app `ccp4x`, or a directory holding it;
each project's directory (`CCP4_JOBS/job_1/job_2/...`, `CCP4_IMPORTED_FILES/`) gives the
sizes and checksums of the files still on disk (see docs/import/ccp4i2.md).

Rows are matched by natural keys, so a second run creates nothing and an interrupted one
finishes what it left: a project by its name (and its CCP4i2 uuid, so that a namesake
made elsewhere is not mixed in), a job by (project, number), a file by (project, path),
a job file by (job, file, role), a metric key by its name, a metric by (job, key). Each
kind of row is one transaction of a few bulk statements; a dry run does them all in one
transaction and rolls it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scimeta import models
from scimeta.models import FileRole
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs import ccp4i2_store as store
from scimeta.transfer.labs.ccp4i2_rows import File, Job, Metric, MetricKey, Plan, Project, Use
from scimeta.transfer.labs.ccp4i2_store import describe_all, read_store
from scimeta.transfer.labs.steps import driver_connection, import_step
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal, Source
from scimeta.writes.transaction import Writer

NAME = "ccp4i2"
ACTOR = f"import:{NAME}"
# Serialises imports of CCP4i2 stores: files have no unique key, so two imports checking
# their paths at once would both insert.
IMPORT_LOCK = 0xCC_94_12_0001
# files described on disk per progress step
DESCRIBE_STEP = 64


async def import_ccp4i2(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the CCP4i2 store at `location` (see the module's docstring); with
    `options.project`, only that project of the store."""
    if options.study is not None:
        raise TransferError("a CCP4i2 store holds projects, not studies: import it without --study")
    source = read_store(location)

    def describe(files: list[File]) -> None:
        progress.begin("File on disk", len(files))
        for start in range(0, len(files), DESCRIBE_STEP):
            chunk = files[start : start + DESCRIBE_STEP]
            for file, found in zip(chunk, describe_all([f.location for f in chunk]), strict=True):
                file.on_disk = found
            progress.advance(len(chunk))
        progress.end()

    plan = Plan.build(source, report, options.project, describe)
    async with engine.connect() as connection:
        run = _Import(connection, options, progress, report)
        await run.projects(plan.projects)
        await run.jobs(plan.jobs)
        await run.files(plan.files)
        await run.uses(plan.uses)
        await run.metrics(plan.keys, plan.metrics)
        if options.dry_run:
            await connection.rollback()
    return report


class _Import:
    def __init__(
        self,
        connection: AsyncConnection,
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
    ) -> None:
        self.connection = connection
        self.options = options
        self.progress = progress
        self.report = report
        # source id -> scimeta id
        self.project_ids: dict[int, int] = {}
        self.job_ids: dict[int, int] = {}
        self.file_ids: dict[int, int] = {}
        self.files_by_id: dict[int, File] = {}

    def step(self) -> AbstractAsyncContextManager[Writer]:
        """One transaction of the import (see `import_step`), under its lock."""
        return import_step(self.connection, ACTOR, self.options.dry_run, IMPORT_LOCK)

    async def driver(self) -> Any:
        return await driver_connection(self.connection)

    def refuse(self, entity: str, table: str, source_id: Any, reason: str) -> None:
        self.report.refuse(Refusal(entity, f"{table} id {source_id}", str(source_id), reason))

    def counted(self, entity: str, created: bool) -> None:
        counts = self.report.of(entity)
        if created:
            counts.created += 1
        else:
            counts.present += 1

    # -- projects

    async def projects(self, projects: Sequence[Project]) -> None:
        self.progress.begin("Project", len(projects))
        async with self.step() as writer:
            driver = await self.driver()
            names = [p.name for p in projects]
            existing = {
                name: (project_id, uuid)
                for name, project_id, uuid in await driver.fetch(_EXISTING_PROJECTS, names)
            }
            new = [p for p in projects if p.name not in existing]
            inserted = dict(
                await driver.fetch(
                    _INSERT_PROJECTS,
                    [p.name for p in new],
                    [p.directory for p in new],
                    [p.description for p in new],
                    [p.last_job_number for p in new],
                    [json.dumps(p.attributes) for p in new],
                    [p.created_at for p in new],
                )
            )
            if len(inserted) < len(new):
                # made by someone else since it was looked for
                existing |= {
                    name: (project_id, uuid)
                    for name, project_id, uuid in await driver.fetch(_EXISTING_PROJECTS, names)
                    if name not in inserted
                }
            raised: list[tuple[int, int]] = []
            for project in projects:
                if project.name in inserted:
                    project_id = inserted[project.name]
                    self.project_ids[project.source_id] = project_id
                    self.counted("Project", True)
                    writer.record(
                        _event("Project", project_id, "created", _project(project_id, project))
                    )
                    continue
                project_id, uuid = existing[project.name]
                if uuid != project.uuid:
                    self.refuse(
                        "Project",
                        store.PROJECT,
                        project.source_id,
                        f"a project named {project.name!r} already exists and was not imported "
                        "from this CCP4i2 project (its uuid differs); rename one of them.",
                    )
                    continue
                self.project_ids[project.source_id] = project_id
                self.counted("Project", False)
                raised.append((project_id, project.last_job_number))
            await driver.execute(
                _RAISE_LAST_JOB_NUMBER, [r[0] for r in raised], [r[1] for r in raised]
            )
        self.progress.advance(len(projects))
        self.progress.end()

    # -- jobs, parents before children

    async def jobs(self, levels: Sequence[Sequence[Job]]) -> None:
        self.progress.begin("Job", sum(len(level) for level in levels))
        async with self.step() as writer:
            driver = await self.driver()
            for level in levels:
                taken = []
                for job in level:
                    if job.project not in self.project_ids:
                        self.refuse(
                            "Job",
                            store.JOB,
                            job.source_id,
                            f"its project ({store.PROJECT} id {job.project}) was refused (see "
                            "that refusal).",
                        )
                    elif job.parent is not None and job.parent not in self.job_ids:
                        self.refuse(
                            "Job",
                            store.JOB,
                            job.source_id,
                            f"its parent job ({store.JOB} id {job.parent}) was refused (see "
                            "that refusal).",
                        )
                    else:
                        taken.append(job)
                rows = await driver.fetch(
                    _INSERT_JOBS,
                    [self.project_ids[j.project] for j in taken],
                    [None if j.parent is None else self.job_ids[j.parent] for j in taken],
                    [j.number for j in taken],
                    [j.last_child_number for j in taken],
                    [j.task_name for j in taken],
                    [j.title for j in taken],
                    [j.status.value for j in taken],
                    [j.started_at for j in taken],
                    [j.finished_at for j in taken],
                    [json.dumps(j.attributes) for j in taken],
                    [j.created_at for j in taken],
                )
                present: list[tuple[int, int]] = []
                for job, (job_id, created) in zip(taken, rows, strict=True):
                    if job_id is None:
                        raise TransferError(
                            f"job {job.number} was made by someone else during the import; "
                            "run it again"
                        )
                    self.job_ids[job.source_id] = job_id
                    self.counted("Job", created)
                    if created:
                        writer.record(_event("Job", job_id, "created", self._job(job_id, job)))
                    else:
                        present.append((job_id, job.last_child_number))
                await driver.execute(
                    _RAISE_LAST_CHILD_NUMBER, [p[0] for p in present], [p[1] for p in present]
                )
                self.progress.advance(len(level))
        self.progress.end()

    def _job(self, job_id: int, job: Job) -> dict[str, Any]:
        return _present(
            {
                "id": job_id,
                "project_id": self.project_ids[job.project],
                "parent_id": None if job.parent is None else self.job_ids[job.parent],
                "number": job.number,
                "last_child_number": job.last_child_number,
                "task_name": job.task_name,
                "title": job.title,
                "status": job.status.value,
                "started_at": _iso(job.started_at),
                "finished_at": _iso(job.finished_at),
            }
        )

    # -- files

    async def files(self, files: Sequence[File]) -> None:
        self.progress.begin("File", len(files))
        async with self.step() as writer:
            driver = await self.driver()
            taken = []
            for file in files:
                if file.job not in self.job_ids:
                    self.refuse(
                        "File",
                        store.FILE,
                        file.source_id,
                        f"its job ({store.JOB} id {file.job}) was refused (see that refusal).",
                    )
                else:
                    taken.append(file)
            taken = await self._free_imports(driver, taken)
            rows = await driver.fetch(
                _INSERT_FILES,
                [self.project_ids[f.project] for f in taken],
                [f.path for f in taken],
                [f.name for f in taken],
                [f.mimetype for f in taken],
                [None if f.on_disk is None else f.on_disk.size_bytes for f in taken],
                [None if f.checksum is None else f.checksum[1] for f in taken],
                [None if f.checksum is None else f.checksum[0] for f in taken],
                [_modified_at(f) for f in taken],
                [f.annotation for f in taken],
                [f.content_flag for f in taken],
                [f.sub_type for f in taken],
                [f.imported_from for f in taken],
                [f.imported_at for f in taken],
            )
            for file, (file_id, created) in zip(taken, rows, strict=True):
                self.file_ids[file.source_id] = file_id
                self.files_by_id[file.source_id] = file
                self.counted("File", created)
                # an imported file has its creation event, as importFile writes; outputs
                # are told by their job's `outputs_gleaned`
                if created and file.imported_from is not None:
                    writer.record(_event("File", file_id, "created", self._file(file_id, file)))
        self.progress.advance(len(files))
        self.progress.end()

    async def _free_imports(self, driver: Any, files: list[File]) -> list[File]:
        """The files, less the imports whose content the project already has from another
        path: a project takes each content once."""
        imports = [f for f in files if f.imported_from is not None and f.checksum is not None]
        rows = await driver.fetch(
            _EXISTING_IMPORTS,
            sorted({self.project_ids[f.project] for f in imports}),
            sorted({f.checksum[1] for f in imports if f.checksum is not None}),
        )
        held = {
            (project_id, algorithm, checksum): (path, file_id)
            for project_id, algorithm, checksum, path, file_id in rows
        }
        taken = []
        for file in files:
            checksum = file.checksum
            if file.imported_from is not None and checksum is not None:
                found = held.get((self.project_ids[file.project], *checksum))
                if found is not None and found[0] != file.path:
                    self.refuse(
                        "File",
                        store.FILE,
                        file.source_id,
                        f"the project already has this content ({checksum[0]} {checksum[1]}), "
                        f"imported as {found[0]}; a project takes each content once.",
                    )
                    continue
            taken.append(file)
        return taken

    def _file(self, file_id: int, file: File) -> dict[str, Any]:
        checksum = file.checksum
        return _present(
            {
                "id": file_id,
                "project_id": self.project_ids[file.project],
                "path": file.path,
                "name": file.name,
                "mimetype": file.mimetype,
                "size_bytes": None if file.on_disk is None else file.on_disk.size_bytes,
                "checksum": None if checksum is None else checksum[1],
                "checksum_algorithm": None if checksum is None else checksum[0],
                "modified_at": _iso(_modified_at(file)),
                "annotation": file.annotation,
                "content_flag": file.content_flag,
                "sub_type": file.sub_type,
                "imported_from": file.imported_from,
                "imported_at": _iso(file.imported_at),
            }
        )

    # -- job files

    async def uses(self, uses: Sequence[Use]) -> None:
        self.progress.begin("JobFile", len(uses))
        async with self.step() as writer:
            taken = []
            for use in uses:
                if use.job not in self.job_ids:
                    missing = f"its job ({store.JOB} id {use.job})"
                elif use.file not in self.file_ids:
                    missing = f"its file ({store.FILE} id {use.file})"
                else:
                    taken.append(use)
                    continue
                self.refuse(
                    "JobFile",
                    store.FILE_USE,
                    use.source_id,
                    f"{missing} was refused (see that refusal).",
                )
            driver = await self.driver()
            rows = await driver.fetch(
                _INSERT_USES,
                [self.job_ids[u.job] for u in taken],
                [self.file_ids[u.file] for u in taken],
                [u.role.value for u in taken],
                [u.parameter_name for u in taken],
            )
            gleaned: dict[int, list[str]] = {}
            for use, (created,) in zip(taken, rows, strict=True):
                self.counted("JobFile", created)
                if created and use.role is FileRole.OUTPUT:
                    gleaned.setdefault(use.job, []).append(self.files_by_id[use.file].path)
            for job, paths in gleaned.items():
                writer.record(
                    _event(
                        "Job", self.job_ids[job], "outputs_gleaned", {"files": paths, "metrics": []}
                    )
                )
        self.progress.advance(len(uses))
        self.progress.end()

    # -- metric keys and metrics

    async def metrics(self, keys: Sequence[MetricKey], metrics: Sequence[Metric]) -> None:
        self.progress.begin("MetricKey+Metric", len(keys) + len(metrics))
        async with self.step() as writer:
            driver = await self.driver()
            rows = await driver.fetch(
                _INSERT_KEYS, [k.name for k in keys], [k.description for k in keys]
            )
            key_ids = {}
            for key, (key_id, created) in zip(keys, rows, strict=True):
                key_ids[key.name] = key_id
                self.counted("MetricKey", created)
                if created:
                    writer.record(
                        _event(
                            "MetricKey",
                            key_id,
                            "created",
                            _present(
                                {"id": key_id, "name": key.name, "description": key.description}
                            ),
                        )
                    )
            taken = []
            for metric in metrics:
                if metric.job in self.job_ids:
                    taken.append(metric)
                else:
                    self.refuse(
                        "Metric",
                        metric.table,
                        metric.source_id,
                        f"its job ({store.JOB} id {metric.job}) was refused (see that refusal).",
                    )
            rows = await driver.fetch(
                _INSERT_METRICS,
                [self.job_ids[m.job] for m in taken],
                [key_ids[m.key] for m in taken],
                [m.value for m in taken],
                [m.text for m in taken],
            )
            recorded: dict[int, dict[str, Any]] = {}
            for metric, (created,) in zip(taken, rows, strict=True):
                self.counted("Metric", created)
                if created:
                    value = metric.value if metric.value is not None else metric.text
                    recorded.setdefault(metric.job, {})[metric.key] = value
            for job, values in recorded.items():
                writer.record(
                    _event("Job", self.job_ids[job], "metrics_recorded", {"metrics": values})
                )
        self.progress.advance(len(keys) + len(metrics))
        self.progress.end()


def _project(project_id: int, project: Project) -> dict[str, Any]:
    return _present(
        {
            "id": project_id,
            "name": project.name,
            "directory": project.directory,
            "description": project.description,
            "last_job_number": project.last_job_number,
        }
    )


def _modified_at(file: File) -> datetime | None:
    return file.on_disk.modified_at if file.on_disk is not None else file.recorded_modified_at


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _event(subject_type: str, subject_id: int, type_: str, payload: dict[str, Any]) -> models.Event:
    return models.Event(
        subject_type=subject_type, subject_id=subject_id, type=type_, actor=ACTOR, payload=payload
    )


_EXISTING_PROJECTS = """
SELECT name, id, attributes->>'uuid' FROM projects WHERE name = ANY($1::text[])
"""

_INSERT_PROJECTS = """
INSERT INTO projects (name, directory, description, last_job_number, attributes, created_at)
SELECT s.name, s.directory, s.description, s.last_job_number, s.attributes::jsonb,
    coalesce(s.created_at, now())
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[])
    WITH ORDINALITY AS s(name, directory, description, last_job_number, attributes,
        created_at, n)
ORDER BY s.n
ON CONFLICT (name) DO NOTHING
RETURNING name, id
"""

# Numbers the store handed out stay taken: a job made later gets the next one.
_RAISE_LAST_JOB_NUMBER = """
UPDATE projects p SET last_job_number = s.last, updated_at = now(), version = p.version + 1
FROM unnest($1::bigint[], $2::int[]) AS s(id, last)
WHERE p.id = s.id AND p.last_job_number < s.last
"""

_RAISE_LAST_CHILD_NUMBER = """
UPDATE jobs j SET last_child_number = s.last, updated_at = now(), version = j.version + 1
FROM unnest($1::bigint[], $2::int[]) AS s(id, last)
WHERE j.id = s.id AND j.last_child_number < s.last
"""

# Each insert answers, in input order, (the row's id, whether it inserted it).
_INSERT_JOBS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[],
        $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[],
        $11::timestamptz[])
        WITH ORDINALITY AS s(project_id, parent_id, number, last_child_number, task_name,
            title, status, started_at, finished_at, attributes, created_at, n)
),
inserted AS (
    INSERT INTO jobs (project_id, parent_id, number, last_child_number, task_name, title,
        status, started_at, finished_at, attributes, created_at)
    SELECT project_id, parent_id, number, last_child_number, task_name, title, status,
        started_at, finished_at, attributes::jsonb, coalesce(created_at, now())
    FROM src
    ORDER BY n
    ON CONFLICT (project_id, number) DO NOTHING
    RETURNING id, project_id, number
)
SELECT coalesce(i.id, j.id), i.id IS NOT NULL
FROM src
LEFT JOIN inserted i USING (project_id, number)
LEFT JOIN jobs j ON i.id IS NULL AND j.project_id = src.project_id AND j.number = src.number
ORDER BY src.n
"""

_EXISTING_IMPORTS = """
SELECT project_id, checksum_algorithm, checksum, path, id FROM files
WHERE imported_from IS NOT NULL AND project_id = ANY($1::bigint[])
    AND checksum = ANY($2::text[])
"""

_INSERT_FILES = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],
        $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::int[], $11::int[],
        $12::text[], $13::timestamptz[])
        WITH ORDINALITY AS s(project_id, path, name, mimetype, size_bytes, checksum,
            checksum_algorithm, modified_at, annotation, content_flag, sub_type,
            imported_from, imported_at, n)
),
existing AS MATERIALIZED (
    SELECT DISTINCT ON (f.project_id, f.path) f.id, f.project_id, f.path
    FROM files f JOIN src ON f.project_id = src.project_id AND f.path = src.path
    ORDER BY f.project_id, f.path, f.id
),
inserted AS (
    INSERT INTO files (project_id, path, name, mimetype, size_bytes, checksum,
        checksum_algorithm, modified_at, annotation, content_flag, sub_type, imported_from,
        imported_at)
    SELECT project_id, path, name, mimetype, size_bytes, checksum, checksum_algorithm,
        modified_at, annotation, content_flag, sub_type, imported_from, imported_at
    FROM src
    WHERE NOT EXISTS (
        SELECT FROM existing e WHERE e.project_id = src.project_id AND e.path = src.path)
    ORDER BY n
    RETURNING id, project_id, path
)
SELECT coalesce(i.id, e.id), i.id IS NOT NULL
FROM src
LEFT JOIN inserted i USING (project_id, path)
LEFT JOIN existing e USING (project_id, path)
ORDER BY src.n
"""

_INSERT_USES = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
        WITH ORDINALITY AS s(job_id, file_id, role, parameter_name, n)
),
inserted AS (
    INSERT INTO job_files (job_id, file_id, role, parameter_name)
    SELECT job_id, file_id, role, parameter_name FROM src
    ORDER BY n
    ON CONFLICT (job_id, file_id, role) DO NOTHING
    RETURNING job_id, file_id, role
)
SELECT i.job_id IS NOT NULL
FROM src LEFT JOIN inserted i USING (job_id, file_id, role)
ORDER BY src.n
"""

_INSERT_KEYS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(name, description, n)
),
inserted AS (
    INSERT INTO metric_keys (name, description)
    SELECT name, description FROM src
    ORDER BY n
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name
)
SELECT coalesce(i.id, k.id), i.id IS NOT NULL
FROM src
LEFT JOIN inserted i USING (name)
LEFT JOIN metric_keys k ON i.id IS NULL AND k.name = src.name
ORDER BY src.n
"""

_INSERT_METRICS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[])
        WITH ORDINALITY AS s(job_id, key_id, value, text, n)
),
inserted AS (
    INSERT INTO metrics (job_id, key_id, value, text)
    SELECT job_id, key_id, value, text FROM src
    ORDER BY n
    ON CONFLICT (job_id, key_id) WHERE job_id IS NOT NULL DO NOTHING
    RETURNING job_id, key_id
)
SELECT i.job_id IS NOT NULL
FROM src LEFT JOIN inserted i USING (job_id, key_id)
ORDER BY src.n
"""

SOURCE = Source(
    name=NAME,
    location="FILE|DIR",
    summary="a CCP4i2 project database (its Django SQLite file, or a directory holding it)",
    run=import_ccp4i2,
)
