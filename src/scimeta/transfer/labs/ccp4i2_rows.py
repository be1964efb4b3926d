"""The rows of a CCP4i2 store checked and mapped onto scimeta's projects, jobs, files, job
files, metric keys and metrics, with the rules the mutations enforce; each row that
cannot be taken is refused with the reason, and rows that depend on it after it.

Nothing here touches the database: `Plan.build` reads a `Store` and gives what to write.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scimeta.errors import BadUserInput
from scimeta.models import FileRole, Status
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs import ccp4i2_store as store
from scimeta.transfer.labs.ccp4i2_store import OnDisk, Row, Store
from scimeta.transfer.sources import ImportReport, Refusal
from scimeta.writes.core import MAX_METRIC_KEY_NAME, check_metric_key_text
from scimeta.writes.lifecycle import FINISHED

# Job.Status of the ccp4x models: code -> (its name, its label, the scimeta status)
JOB_STATUS: dict[int, tuple[str, str, Status]] = {
    0: ("UNKNOWN", "Unknown", Status.PENDING),
    1: ("PENDING", "Pending", Status.PENDING),
    2: ("QUEUED", "Queued", Status.PENDING),
    3: ("RUNNING", "Running", Status.RUNNING),
    4: ("INTERRUPTED", "Interrupted", Status.CANCELLED),
    5: ("FAILED", "Failed", Status.FAILED),
    6: ("FINISHED", "Finished", Status.SUCCEEDED),
    7: ("RUNNING_REMOTELY", "Running remotely", Status.RUNNING),
    8: ("FILE_HOLDER", "File holder", Status.SUCCEEDED),
    9: ("TO_DELETE", "To delete", Status.CANCELLED),
    10: ("UNSATISFACTORY", "Unsatisfactory", Status.FAILED),
}
# the same codes by name and by label, as older stores and exports write them
_STATUS_WORDS = {
    word.lower(): code
    for code, (name, label, _) in JOB_STATUS.items()
    for word in (name, label, name.replace("_", " "))
}
EVALUATION = {0: None, 1: "BEST", 2: "GOOD", 3: "REJECTED"}
# FileUse.Role
ROLE = {0: FileRole.OUTPUT, 1: FileRole.INPUT}
# jobs that have no outputs to glean, as gleanOutputs has it
_NOT_RUN = frozenset({Status.PENDING, Status.CANCELLED})
_NUMBER = re.compile(r"[1-9][0-9]*(\.[1-9][0-9]*)*")
_NAME_LENGTH = 255
_TEXT_LENGTH = 255


class Refused(Exception):
    """A row that cannot be taken; the message says why."""


@dataclass
class Project:
    source_id: int
    uuid: str | None
    name: str
    directory: str
    root: Path | None
    description: str | None
    last_job_number: int
    created_at: datetime | None
    attributes: dict[str, Any]


@dataclass
class Job:
    source_id: int
    project: int
    parent: int | None
    number: str
    task_name: str
    title: str | None
    status: Status
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime | None
    attributes: dict[str, Any]
    last_child_number: int = 0

    @property
    def depth(self) -> int:
        return self.number.count(".")


@dataclass
class File:
    source_id: int
    project: int
    job: int
    location: Path | None
    path: str
    name: str
    mimetype: str | None
    annotation: str | None
    content_flag: int | None
    sub_type: int | None
    imported_from: str | None = None
    imported_at: datetime | None = None
    recorded_md5: str | None = None
    recorded_modified_at: datetime | None = None
    on_disk: OnDisk | None = None
    import_row: int | None = None

    @property
    def checksum(self) -> tuple[str, str] | None:
        """(algorithm, checksum): sha256 of the bytes on disk, else the md5 recorded."""
        if self.on_disk is not None:
            return "sha256", self.on_disk.sha256
        if self.recorded_md5:
            return "md5", self.recorded_md5
        return None


@dataclass
class Use:
    source_id: int
    job: int
    file: int
    role: FileRole
    parameter_name: str | None


@dataclass
class MetricKey:
    name: str
    description: str | None


@dataclass
class Metric:
    table: str
    source_id: int
    job: int
    key: str
    value: float | None
    text: str | None


@dataclass
class Plan:
    """What to write, in the order to write it; refusals are already reported."""

    projects: list[Project] = field(default_factory=list)
    # by depth: parents before their children
    jobs: list[list[Job]] = field(default_factory=list)
    files: list[File] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    keys: list[MetricKey] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        source: Store,
        report: ImportReport,
        only_project: str | None,
        describe: Callable[[list[File]], None],
    ) -> Plan:
        """Check every row; `describe` fills in the files found on disk."""
        checker = _Checker(source, report, only_project)
        plan = cls()
        plan.projects = checker.projects()
        plan.jobs = checker.jobs()
        plan.files = checker.files(describe)
        plan.uses = checker.uses()
        plan.keys, plan.metrics = checker.metrics()
        return plan


class _Checker:
    def __init__(self, source: Store, report: ImportReport, only_project: str | None) -> None:
        self.source = source
        self.report = report
        self.only_project = only_project
        self.projects_taken: dict[int, Project] = {}
        self.jobs_taken: dict[int, Job] = {}
        self.files_taken: dict[int, File] = {}
        self.keys_taken: dict[str, MetricKey] = {}
        # rows refused, and rows of projects this import leaves out, by table
        self.refused: dict[str, set[Any]] = {}
        self.skipped: dict[str, set[Any]] = {}

    def refuse(self, entity: str, table: str, source_id: Any, reason: str) -> None:
        self.refused.setdefault(table, set()).add(source_id)
        self.report.refuse(
            Refusal(entity, f"{table} id {source_id}", _text(source_id), reason + ".")
        )

    def depends(self, table: str, source_id: Any, taken: dict[Any, Any], what: str) -> Any:
        """The taken row `source_id` of `table`, or Refused saying why there is none."""
        if source_id is None:
            raise Refused(f"it names no {what}")
        found = taken.get(source_id)
        if found is not None:
            return found
        if source_id in self.refused.get(table, set()):
            raise Refused(f"its {what} ({table} id {source_id}) was refused (see that refusal)")
        raise Refused(f"its {what} ({table} id {source_id}) is not in the store")

    def is_skipped(self, table: str, source_id: Any) -> bool:
        return source_id in self.skipped.get(table, set())

    # -- projects

    def projects(self) -> list[Project]:
        rows = self.source.rows(store.PROJECT)
        if self.only_project is not None:
            chosen = [row for row in rows if row.get("name") == self.only_project]
            if not chosen:
                raise TransferError(
                    f"the store has no project named {self.only_project!r}; it has "
                    + ", ".join(sorted(repr(str(row.get("name"))) for row in rows))
                )
            self.skipped[store.PROJECT] = {row["id"] for row in rows} - {chosen[0]["id"]}
            rows = chosen
        counts = self.report.of("Project")
        taken = []
        for row in rows:
            counts.read += 1
            try:
                project = self._project(row, only=len(self.source.rows(store.PROJECT)) == 1)
            except Refused as exc:
                self.refuse("Project", store.PROJECT, row["id"], str(exc))
                continue
            self.projects_taken[project.source_id] = project
            taken.append(project)
        return taken

    def _project(self, row: Row, *, only: bool) -> Project:
        name = row.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > _NAME_LENGTH:
            raise Refused(f"its name {name!r} is not 1 to {_NAME_LENGTH} characters")
        recorded = str(row.get("directory") or "")
        root = store.project_root(recorded, self.source.base, only)
        last = _integer(row, "last_job_number") or 0
        if last < 0:
            raise Refused(f"its last_job_number {last} is negative")
        attributes = _present(
            {
                "source_id": row["id"],
                "uuid": _uuid(row.get("uuid")),
                "creation_user": row.get("creation_user") or None,
                "creation_host": row.get("creation_host") or None,
                "last_access": _iso(_time(row, "last_access")),
                "follow_from_job_id": row.get("follow_from_job_id"),
                "i1_project_name": row.get("i1_project_name") or None,
                "i1_project_directory": row.get("i1_project_directory") or None,
                "recorded_directory": recorded
                if root is not None and str(root) != recorded
                else None,
            }
        )
        return Project(
            source_id=row["id"],
            uuid=attributes.get("uuid"),
            name=name,
            directory=str(root) if root is not None else recorded,
            root=root,
            description=row.get("description") or None,
            last_job_number=last,
            created_at=_time(row, "creation_time"),
            attributes=attributes,
        )

    # -- jobs

    def jobs(self) -> list[list[Job]]:
        rows = self.source.rows(store.JOB)
        counts = self.report.of("Job")
        by_id = {row["id"]: row for row in rows}
        # the numbers each project and job has handed out, refused jobs' too: never reused
        top: dict[int, int] = {}
        children: dict[Any, int] = {}
        parsed: list[tuple[Row, str | None]] = []
        for row in rows:
            if self.is_skipped(store.PROJECT, row.get("project_id")):
                self.skipped.setdefault(store.JOB, set()).add(row["id"])
                continue
            number = _number(row.get("number"))
            parsed.append((row, number))
            if number is None:
                continue
            head, _, last = number.rpartition(".")
            if not head:
                top[row["project_id"]] = max(top.get(row["project_id"], 0), int(last))
            else:
                key = (row["project_id"], head)
                children[key] = max(children.get(key, 0), int(last))
        for project in self.projects_taken.values():
            project.last_job_number = max(project.last_job_number, top.get(project.source_id, 0))
        numbered = {
            (row["project_id"], number): row["id"] for row, number in parsed if number is not None
        }
        levels: dict[int, list[Job]] = {}
        seen: dict[tuple[Any, str], int] = {}
        # parents first: a child is decided once its parent is
        for row, number in sorted(parsed, key=lambda p: (p[1] or "").count(".")):
            counts.read += 1
            try:
                if number is None:
                    raise Refused(
                        f"its number {row.get('number')!r} is not a dotted job number "
                        "such as 3 or 3.1.2"
                    )
                if (row["project_id"], number) in seen:
                    raise Refused(
                        f"job {seen[(row['project_id'], number)]} of the same project has the "
                        f"number {number}; a job number is unique within its project"
                    )
                job = self._job(row, number, by_id, numbered)
            except Refused as exc:
                self.refuse("Job", store.JOB, row["id"], str(exc))
                continue
            seen[(row["project_id"], number)] = row["id"]
            job.last_child_number = children.get((row["project_id"], number), 0)
            self.jobs_taken[job.source_id] = job
            levels.setdefault(job.depth, []).append(job)
        return [levels[depth] for depth in sorted(levels)]

    def _job(
        self, row: Row, number: str, by_id: dict[Any, Row], numbered: dict[tuple[Any, str], Any]
    ) -> Job:
        project = self.depends(store.PROJECT, row.get("project_id"), self.projects_taken, "project")
        head = number.rpartition(".")[0]
        parent_id = row.get("parent_id")
        if parent_id is not None:
            parent_row = by_id.get(parent_id)
            if parent_row is None:
                raise Refused(f"its parent job ({store.JOB} id {parent_id}) is not in the store")
            if parent_row.get("project_id") != row["project_id"]:
                raise Refused(
                    f"its parent job ({store.JOB} id {parent_id}) belongs to another project"
                )
            if _number(parent_row.get("number")) != head or not head:
                raise Refused(
                    f"its number {number} does not continue the number "
                    f"{parent_row.get('number')!r} of its parent job ({store.JOB} id "
                    f"{parent_id}); a sub-job of job N is numbered N.1, N.2, ..."
                )
        elif head:
            parent_id = numbered.get((row["project_id"], head))
            if parent_id is None:
                raise Refused(
                    f"its parent job {head} (by its number {number}) is not in the project"
                )
        parent = None
        if parent_id is not None:
            parent = self.depends(store.JOB, parent_id, self.jobs_taken, "parent job").source_id
        task_name = row.get("task_name")
        if not isinstance(task_name, str) or not task_name or len(task_name) > _NAME_LENGTH:
            raise Refused(f"its task_name {task_name!r} is not 1 to {_NAME_LENGTH} characters")
        code = _status_code(row.get("status"))
        if code is None:
            known = ", ".join(f"{c} {name}" for c, (name, _, _) in JOB_STATUS.items())
            raise Refused(f"its status {row.get('status')!r} is not one of {known}")
        _, label, status = JOB_STATUS[code]
        created = _time(row, "creation_time")
        finished = _time(row, "finish_time")
        # CCP4i2 keeps no start time: a job that ran started when it was created
        started = created if status is not Status.PENDING else None
        if status not in FINISHED:
            finished = None
        if started is not None and finished is not None and finished < started:
            raise Refused(
                f"its finish_time {_iso(finished)} is before its creation_time "
                f"{_iso(started)}; a job cannot finish before it starts"
            )
        attributes = _present(
            {
                "source_id": row["id"],
                "uuid": _uuid(row.get("uuid")),
                "ccp4i2_status": label,
                "evaluation": EVALUATION.get(_integer(row, "evaluation") or 0),
                "comments": row.get("comments") or None,
                "process_id": row.get("process_id"),
                "finish_time": _iso(_time(row, "finish_time")) if finished is None else None,
            }
        )
        return Job(
            source_id=row["id"],
            project=project.source_id,
            parent=parent,
            number=number,
            task_name=task_name,
            title=row.get("title") or None,
            status=status,
            started_at=started,
            finished_at=finished,
            created_at=created,
            attributes=attributes,
        )

    # -- files and their imports

    def files(self, describe: Callable[[list[File]], None]) -> list[File]:
        rows = self.source.rows(store.FILE)
        imports = {row.get("file_id"): row for row in self.source.rows(store.FILE_IMPORT)}
        counts = self.report.of("File")
        taken: list[File] = []
        paths: dict[tuple[int, str], int] = {}
        for row in rows:
            if self.is_skipped(store.JOB, row.get("job_id")):
                self.skipped.setdefault(store.FILE, set()).add(row["id"])
                continue
            counts.read += 1
            try:
                file = self._file(row, imports.get(row["id"]))
                key = (file.project, file.path)
                if key in paths:
                    raise Refused(
                        f"file {paths[key]} has the same path {file.path}; a project's files "
                        "are told apart by their paths"
                    )
                paths[key] = file.source_id
            except Refused as exc:
                self.refuse("File", store.FILE, row["id"], str(exc))
                continue
            taken.append(file)
        known = {row["id"] for row in rows}
        for file_id in imports:
            if file_id not in known:
                counts.read += 1
                self.refuse(
                    "File",
                    store.FILE_IMPORT,
                    file_id,
                    f"it records the import of file {file_id}, which is not in {store.FILE}",
                )
        describe(taken)
        checked = []
        imported: dict[tuple[int, str, str], int] = {}
        for file in taken:
            try:
                self._check_import(file, imported)
            except Refused as exc:
                self.refuse("File", store.FILE, file.source_id, str(exc))
                continue
            self.files_taken[file.source_id] = file
            checked.append(file)
        return checked

    def _file(self, row: Row, import_row: Row | None) -> File:
        job = self.depends(store.JOB, row.get("job_id"), self.jobs_taken, "job")
        project = self.projects_taken[job.project]
        name = row.get("name")
        if not isinstance(name, str) or not name or name in {".", ".."} or "/" in name:
            raise Refused(f"its name {name!r} is not the name of a file")
        kind = _integer(row, "directory")
        if kind == store.JOB_DIR:
            relative = Path(store.job_directory(Path(project.directory), job.number), name)
        elif kind == store.IMPORT_DIR:
            relative = Path(project.directory, store.IMPORTS_DIRECTORY, name)
        else:
            raise Refused(
                f"its directory {row.get('directory')!r} is neither {store.JOB_DIR} (its job's "
                f"directory) nor {store.IMPORT_DIR} ({store.IMPORTS_DIRECTORY})"
            )
        location = None
        if project.root is not None:
            location = relative
        mimetype = row.get("type_id")
        file = File(
            source_id=row["id"],
            project=project.source_id,
            job=job.source_id,
            location=location,
            path=str(relative),
            name=name,
            mimetype=str(mimetype) if mimetype else None,
            annotation=row.get("annotation") or None,
            content_flag=_integer(row, "content"),
            sub_type=_integer(row, "sub_type"),
        )
        if import_row is not None:
            source = import_row.get("name")
            if not isinstance(source, str) or not source:
                raise Refused(
                    f"its import ({store.FILE_IMPORT}) names no file it was imported from"
                )
            file.imported_from = source
            file.imported_at = _time(import_row, "time")
            file.recorded_md5 = str(import_row.get("checksum") or "").lower() or None
            file.recorded_modified_at = _time(import_row, "last_modified")
            file.import_row = row["id"]
        return file

    def _check_import(self, file: File, imported: dict[tuple[int, str, str], int]) -> None:
        """An imported file needs a checksum and content that did not change, and a
        project takes each content once (as importFile requires)."""
        if file.imported_from is None:
            return
        disk = file.on_disk
        if disk is not None and file.recorded_md5 and disk.md5 != file.recorded_md5:
            raise Refused(
                f"its content changed since it was imported: md5 {disk.md5} at {file.path}, "
                f"{file.recorded_md5} recorded at the import"
            )
        checksum = file.checksum
        if checksum is None:
            raise Refused(
                f"its import records no checksum and the file is not at {file.path} to compute "
                "one; an imported file needs its checksum, by which a second import of the "
                "same content is detected"
            )
        key = (file.project, *checksum)
        if key in imported:
            raise Refused(
                f"file {imported[key]} of the same project was imported with the same content "
                f"({checksum[0]} {checksum[1]}); a project takes each content once"
            )
        imported[key] = file.source_id

    # -- file uses

    def uses(self) -> list[Use]:
        counts = self.report.of("JobFile")
        taken: list[Use] = []
        seen: dict[tuple[int, int, FileRole], tuple[int, str | None]] = {}
        for row in self.source.rows(store.FILE_USE):
            if self.is_skipped(store.JOB, row.get("job_id")):
                continue
            counts.read += 1
            try:
                if self.is_skipped(store.FILE, row.get("file_id")):
                    raise Refused(
                        f"its file ({store.FILE} id {row['file_id']}) belongs to a project "
                        "this import leaves out"
                    )
                job = self.depends(store.JOB, row.get("job_id"), self.jobs_taken, "job")
                file = self.depends(store.FILE, row.get("file_id"), self.files_taken, "file")
                code = _integer(row, "role")
                role = None if code is None else ROLE.get(code)
                if role is None:
                    raise Refused(
                        f"its role {row.get('role')!r} is neither 0 (OUT, an output) nor 1 "
                        "(IN, an input)"
                    )
                if role is FileRole.OUTPUT and job.status in _NOT_RUN:
                    raise Refused(
                        f"its job {job.number} is {job.status.value} (CCP4i2 status "
                        f"{job.attributes['ccp4i2_status']!r}): only a job that ran has "
                        "outputs"
                    )
                parameter = row.get("job_param_name") or None
                key = (job.source_id, file.source_id, role)
                if key in seen:
                    other, named = seen[key]
                    raise Refused(
                        f"file use {other} already links file {file.source_id} to job "
                        f"{job.number} as {role.value} (parameter {named!r}); scimeta links a "
                        "file to a job once per role"
                    )
                seen[key] = (row["id"], parameter)
            except Refused as exc:
                self.refuse("JobFile", store.FILE_USE, row["id"], str(exc))
                continue
            taken.append(Use(row["id"], job.source_id, file.source_id, role, parameter))
        return taken

    # -- key performance indicators

    def metrics(self) -> tuple[list[MetricKey], list[Metric]]:
        key_counts = self.report.of("MetricKey")
        keys: list[MetricKey] = []
        for row in self.source.rows(store.VALUE_KEY):
            key_counts.read += 1
            name = row.get("name")
            try:
                if not isinstance(name, str):
                    raise Refused(f"its name {name!r} is not text")
                check_metric_key_text(name, "name", MAX_METRIC_KEY_NAME)
            except Refused as exc:
                self.refuse("MetricKey", store.VALUE_KEY, name, str(exc))
                continue
            except BadUserInput as exc:
                self.refuse(
                    "MetricKey",
                    store.VALUE_KEY,
                    name,
                    f"its name {name!r} cannot be a metric key: {exc.message.rstrip('.')}",
                )
                continue
            key = MetricKey(name, row.get("description") or None)
            self.keys_taken[name] = key
            keys.append(key)
        counts = self.report.of("Metric")
        taken: list[Metric] = []
        seen: dict[tuple[int, str], str] = {}
        for table in (store.FLOAT_VALUE, store.CHAR_VALUE):
            for row in self.source.rows(table):
                if self.is_skipped(store.JOB, row.get("job_id")):
                    continue
                counts.read += 1
                try:
                    metric = self._metric(table, row)
                    where = (metric.job, metric.key)
                    if where in seen:
                        raise Refused(
                            f"{seen[where]} already gives {metric.key} of job "
                            f"{self.jobs_taken[metric.job].number}; a job has one value per key"
                        )
                    seen[where] = f"{table} id {row['id']}"
                except Refused as exc:
                    self.refuse("Metric", table, row["id"], str(exc))
                    continue
                taken.append(metric)
        return keys, taken

    def _metric(self, table: str, row: Row) -> Metric:
        job = self.depends(store.JOB, row.get("job_id"), self.jobs_taken, "job")
        key = self.depends(store.VALUE_KEY, row.get("key_id"), self.keys_taken, "key")
        value = row.get("value")
        if table == store.FLOAT_VALUE:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Refused(f"its value {value!r} is not a number")
            if not math.isfinite(value):
                raise Refused(f"its value {value!r} is not a finite number")
            return Metric(table, row["id"], job.source_id, key.name, float(value), None)
        if value is None or value == "":
            raise Refused("it has no value")
        return Metric(table, row["id"], job.source_id, key.name, None, str(value))


def _number(value: Any) -> str | None:
    """A job number as CCP4i2 writes it ("3", "3.1.2"), or None if it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > _TEXT_LENGTH:
        return None
    return value if _NUMBER.fullmatch(value) else None


def _status_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in JOB_STATUS else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word.isdigit():
            return _status_code(int(word))
        return _STATUS_WORDS.get(word)
    return None


def _integer(row: Row, column: str) -> int | None:
    value = row.get(column)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Refused(f"its {column} {value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise Refused(f"its {column} {value!r} is not an integer")


def _time(row: Row, column: str) -> datetime | None:
    try:
        return store.timestamp(row.get(column))
    except ValueError as exc:
        raise Refused(f"its {column} {row.get(column)!r} is not a time") from exc


def _uuid(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value).replace("-", "").lower()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
