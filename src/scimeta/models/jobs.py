"""Projects, their hierarchical jobs, and the files jobs use or produce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from scimeta.models.base import Entity, attributes_column, enum_column, reference
from scimeta.models.enums import FileRole, Status


class Project(Entity):
    __tablename__ = "projects"
    __table_args__ = (CheckConstraint("last_job_number >= 0", name="last_job_number_non_negative"),)

    name: Mapped[str] = mapped_column(String(255), unique=True)
    directory: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # The last top-level job number handed out; numbers are never reused.
    last_job_number: Mapped[int] = mapped_column(Integer, server_default="0")
    attributes: Mapped[dict[str, Any]] = attributes_column()


class Job(Entity):
    """A job of a project, optionally under a parent job, numbered "3", "3.1", "3.1.2".

    `number_path` is the number as integers, so that "1.10" sorts after "1.9".
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        # A parent job is always in the same project as its children.
        UniqueConstraint("id", "project_id"),
        ForeignKeyConstraint(
            ["parent_id", "project_id"],
            ["jobs.id", "jobs.project_id"],
            ondelete="CASCADE",
            name="fk_jobs_parent_id_project_id_jobs",
        ),
        CheckConstraint(r"number ~ '^[1-9][0-9]*(\.[1-9][0-9]*)*$'", name="number_is_dotted"),
        CheckConstraint("last_child_number >= 0", name="last_child_number_non_negative"),
        CheckConstraint(
            "finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
            name="finishes_after_start",
        ),
        Index("ix_jobs_project_id_number_path", "project_id", "number_path"),
        Index("ix_jobs_project_id_status", "project_id", "status"),
        Index("ix_jobs_task_name", "task_name"),
    )

    project_id: Mapped[int] = reference("projects.id", ondelete="CASCADE", index=False)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    number: Mapped[str] = mapped_column(String(255))
    number_path: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), Computed("string_to_array(number, '.')::integer[]", persisted=True)
    )
    # The last child number handed out under this job.
    last_child_number: Mapped[int] = mapped_column(Integer, server_default="0")
    task_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    status: Mapped[Status] = enum_column(Status, "status", server_default=Status.PENDING.value)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]] = attributes_column()


class JobFile(Entity):
    """A file used (INPUT) or produced (OUTPUT) by a job, for one of its parameters."""

    __tablename__ = "job_files"
    __table_args__ = (UniqueConstraint("job_id", "file_id", "role"),)

    job_id: Mapped[int] = reference("jobs.id", ondelete="CASCADE", index=False)
    file_id: Mapped[int] = reference("files.id", ondelete="NO ACTION")
    role: Mapped[FileRole] = enum_column(FileRole, "file_role")
    parameter_name: Mapped[str | None] = mapped_column(String(255))
