"""Filters and sort keys of projects, jobs and the files jobs use."""

from __future__ import annotations

from scimeta import models
from scimeta.schema.filters import (
    DateTimeFilter,
    FileRoleFilter,
    IDFilter,
    StatusFilter,
    StringFilter,
    where_input,
)
from scimeta.schema.ordering import order_input

_M = __name__
_CORE = "scimeta.schema.inputs.core"

ProjectWhere = where_input(
    "ProjectWhere",
    models.Project,
    module=_M,
    noun="project",
    fields={
        "id": IDFilter,
        "name": StringFilter,
        "directory": StringFilter,
        "created_at": DateTimeFilter,
    },
    relations={"jobs": (models.Project.id, models.Job.project_id, "JobWhere", _M)},
)
ProjectOrder = order_input(
    "ProjectOrder",
    "project",
    {"NAME": models.Project.name, "CREATED_AT": models.Project.created_at},
)

JobWhere = where_input(
    "JobWhere",
    models.Job,
    module=_M,
    noun="job",
    fields={
        "id": IDFilter,
        "number": StringFilter,
        "task_name": StringFilter,
        "title": StringFilter,
        "status": StatusFilter,
        "started_at": DateTimeFilter,
        "finished_at": DateTimeFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "project": (models.Job.project_id, models.Project.id, "ProjectWhere", _M),
        "parent": (models.Job.parent_id, models.Job.id, "JobWhere", _M),
        "files": (models.Job.id, models.JobFile.job_id, "JobFileWhere", _M),
        "metrics": (models.Job.id, models.Metric.job_id, "MetricWhere", _CORE),
    },
)
JobOrder = order_input(
    "JobOrder",
    "job",
    {
        "NUMBER": models.Job.number_path,
        "TASK_NAME": models.Job.task_name,
        "STATUS": models.Job.status,
        "STARTED_AT": models.Job.started_at,
        "FINISHED_AT": models.Job.finished_at,
        "CREATED_AT": models.Job.created_at,
    },
)

JobFileWhere = where_input(
    "JobFileWhere",
    models.JobFile,
    module=_M,
    noun="job file",
    fields={"id": IDFilter, "role": FileRoleFilter, "parameter_name": StringFilter},
    relations={"file": (models.JobFile.file_id, models.File.id, "FileWhere", _CORE)},
)
JobFileOrder = order_input(
    "JobFileOrder",
    "job file",
    {"ROLE": models.JobFile.role, "PARAMETER_NAME": models.JobFile.parameter_name},
)
