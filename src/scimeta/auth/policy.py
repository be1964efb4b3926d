"""What a caller may read and change, enforced where rows are read and written.

Reads: every ORM statement a request's session runs gets, for each entity in it, the
condition that keeps the caller's rows only (`with_loader_criteria`, added by a session
event). Loaders, pages, counts, aggregates, `node(id)`, events and subscriptions all read
through that session, so none of them can return a row of a project or study the caller
has no role in, and no resolver has to remember to ask.

Writes: every change writes events about the rows it changes (see
`scimeta.writes.transaction`). Before they are written, the scope of each event's subject
(its project, its study, or the whole server) is looked up, and the caller must hold a
role that allows the change there.

Scopes: jobs and files belong to a project; participants, recordings and their parts to a
study; runs to their study, and trajectories, chunks, artifacts and agent outputs to their
run's. A run without a study, the chemistry store and the metric catalogue belong to the
whole server: only grants on everything reach them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    any_,
    event,
    false,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from strawberry.relay import GlobalID

from scimeta import models
from scimeta.errors import ClientError
from scimeta.models import Role

if TYPE_CHECKING:
    from scimeta.auth.identity import Identity


class Forbidden(ClientError):
    """The caller may see the row but not make this change to it."""

    code = "FORBIDDEN"


class Action(enum.Enum):
    """What a change needs. Each role allows some actions on its scope."""

    READ = "read"
    # claim, renew and release runs, and record their results (status, phase, metrics,
    # artifacts, agent outputs, chunk attempts, events)
    RUN = "record run results on"
    WRITE = "change"
    # delete rows, and manage tokens
    ADMINISTER = "administer"


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.RUNNER: frozenset({Action.READ, Action.RUN}),
    Role.CONTRIBUTOR: frozenset({Action.READ, Action.RUN, Action.WRITE}),
    Role.ADMIN: frozenset(Action),
}

# the roles that allow an action, for messages
NEEDED: dict[Action, str] = {
    Action.READ: "any role",
    Action.RUN: "runner, contributor or admin",
    Action.WRITE: "contributor or admin",
    Action.ADMINISTER: "admin",
}


@dataclass(frozen=True)
class Scope:
    """Where a row belongs: a project, a study, or (neither) the whole server."""

    project_id: int | None = None
    study_id: int | None = None

    def describe(self) -> str:
        if self.project_id is not None:
            return f"project {self.project_id}"
        if self.study_id is not None:
            return f"study {self.study_id}"
        return "the whole server"


SERVER = Scope()


class Access:
    """A caller's grants, as the SQL conditions and checks that enforce them."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        grants = identity.grants
        self.reads_all = any(g.project_id is None and g.study_id is None for g in grants)
        self.projects = sorted({g.project_id for g in grants if g.project_id is not None})
        self.studies = sorted({g.study_id for g in grants if g.study_id is not None})

    def may(self, action: Action, scope: Scope) -> bool:
        for grant in self.identity.grants:
            if action not in ALLOWED[grant.role]:
                continue
            if grant.project_id is None and grant.study_id is None:
                return True
            if scope.project_id is not None and grant.project_id == scope.project_id:
                return True
            if scope.study_id is not None and grant.study_id == scope.study_id:
                return True
        return False

    def require(self, action: Action, scope: Scope, what: str) -> None:
        if not self.may(action, scope):
            raise Forbidden(
                f"You may not {action.value} {what}: that needs {NEEDED[action]} on "
                f"{scope.describe()}, and your token ({self.identity.name}) has no such "
                "grant.",
                action=action.name,
            )

    def studies_for(self, action: Action) -> list[int] | None:
        """The studies where the caller may `action`; None: every study and none."""
        studies = []
        for grant in self.identity.grants:
            if action not in ALLOWED[grant.role]:
                continue
            if grant.project_id is None and grant.study_id is None:
                return None
            if grant.study_id is not None:
                studies.append(grant.study_id)
        return sorted(set(studies))

    @cached_property
    def criteria(self) -> tuple[Any, ...]:
        """The loader criteria that keep the caller's rows only; none for a caller who
        reads everything."""
        if self.reads_all:
            return ()
        return tuple(
            with_loader_criteria(model, condition, include_aliases=True)
            for model, condition in visible_rows(self.projects, self.studies).items()
        )


def ids(values: Sequence[int]) -> ColumnElement[Any]:
    return literal(list(values), ARRAY(BigInteger))


def visible_rows(
    projects: Sequence[int], studies: Sequence[int]
) -> dict[type[models.Base], ColumnElement[bool]]:
    """Per entity, the condition its rows must meet to be visible to a caller with roles
    on `projects` and `studies` only. The subqueries are on tables, not entities, so the
    criteria are not applied to them again."""
    t = {name: table for name, table in models.Base.metadata.tables.items()}
    jobs, participants, recordings, runs, chunks = (
        t["jobs"],
        t["participants"],
        t["recordings"],
        t["runs"],
        t["chunks"],
    )
    project_ids, study_ids = ids(projects), ids(studies)

    def in_projects(column: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = column == any_(project_ids)
        return condition

    def in_studies(column: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = column == any_(study_ids)
        return condition

    visible_jobs = select(jobs.c.id).where(in_projects(jobs.c.project_id))
    visible_participants = select(participants.c.id).where(in_studies(participants.c.study_id))
    visible_recordings = select(recordings.c.id).where(
        recordings.c.participant_id.in_(visible_participants)
    )
    visible_runs = select(runs.c.id).where(in_studies(runs.c.study_id))
    visible_chunks = select(chunks.c.id).where(chunks.c.run_id.in_(visible_runs))

    m = models
    conditions: dict[type[models.Base], ColumnElement[bool]] = {
        m.Project: in_projects(m.Project.id),
        m.Job: in_projects(m.Job.project_id),
        m.File: in_projects(m.File.project_id),
        m.JobFile: m.JobFile.job_id.in_(visible_jobs),
        m.Study: in_studies(m.Study.id),
        m.Participant: in_studies(m.Participant.study_id),
        m.Recording: m.Recording.participant_id.in_(visible_participants),
        m.RecordingChannel: m.RecordingChannel.recording_id.in_(visible_recordings),
        m.MovementCycle: m.MovementCycle.recording_id.in_(visible_recordings),
        m.Synchronization: m.Synchronization.audio_recording_id.in_(visible_recordings),
        m.Run: in_studies(m.Run.study_id),
        m.Trajectory: m.Trajectory.run_id.in_(visible_runs),
        m.Chunk: m.Chunk.run_id.in_(visible_runs),
        m.RunArtifact: m.RunArtifact.run_id.in_(visible_runs),
        m.AgentOutput: m.AgentOutput.run_id.in_(visible_runs),
        m.Metric: or_(
            m.Metric.job_id.in_(visible_jobs),
            m.Metric.run_id.in_(visible_runs),
            m.Metric.chunk_id.in_(visible_chunks),
            m.Metric.recording_id.in_(visible_recordings),
        ),
    }
    # the whole server's rows: visible only with a grant on everything
    for model in (
        m.Molecule,
        m.Calculation,
        m.AtomicProperty,
        m.Batch,
        m.BatchItem,
    ):
        conditions[model] = false()
    # an event is visible with its subject (the log keeps events of deleted rows, which
    # only callers who read everything see)
    subjects = {
        "Project": select(t["projects"].c.id).where(in_projects(t["projects"].c.id)),
        "Job": visible_jobs,
        "File": select(t["files"].c.id).where(in_projects(t["files"].c.project_id)),
        "Study": select(t["studies"].c.id).where(in_studies(t["studies"].c.id)),
        "Participant": visible_participants,
        "Recording": visible_recordings,
        "Run": visible_runs,
        "Trajectory": select(t["trajectories"].c.id).where(
            t["trajectories"].c.run_id.in_(visible_runs)
        ),
        "Chunk": visible_chunks,
    }
    conditions[m.Event] = or_(
        *(
            and_(m.Event.subject_type == name, m.Event.subject_id.in_(rows))
            for name, rows in subjects.items()
        )
    )
    return conditions


@event.listens_for(Session, "do_orm_execute")
def _only_visible_rows(state: ORMExecuteState) -> None:
    """Add the caller's criteria to every ORM select, update and delete of a session
    that carries an `Access` (a request's); sessions without one (the command line, the
    listener, the sweeper) see everything."""
    access: Access | None = state.session.info.get("access")
    if access is None or not access.criteria:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*access.criteria)


def bind(session: AsyncSession, access: Access) -> None:
    """Make `session` read and write as the caller `access` describes."""
    session.sync_session.info["access"] = access


def access_of(session: AsyncSession) -> Access | None:
    result: Access | None = session.sync_session.info.get("access")
    return result


# Where each kind of subject belongs: a query per type giving (id, project_id, study_id).
def _scope_queries() -> dict[str, Any]:
    t = models.Base.metadata.tables
    no_project = null().cast(BigInteger)
    jobs, files, participants, recordings = (
        t["jobs"],
        t["files"],
        t["participants"],
        t["recordings"],
    )
    runs, trajectories, chunks = t["runs"], t["trajectories"], t["chunks"]
    artifacts, outputs = t["run_artifacts"], t["agent_outputs"]

    def by_run(table: Any) -> Select[Any]:
        return select(table.c.id, no_project, runs.c.study_id).join(
            runs, runs.c.id == table.c.run_id
        )

    return {
        "Project": select(t["projects"].c.id, t["projects"].c.id, no_project),
        "Job": select(jobs.c.id, jobs.c.project_id, no_project),
        "File": select(files.c.id, files.c.project_id, no_project),
        "Study": select(t["studies"].c.id, no_project, t["studies"].c.id),
        "Participant": select(participants.c.id, no_project, participants.c.study_id),
        "Recording": select(recordings.c.id, no_project, participants.c.study_id).join(
            participants, participants.c.id == recordings.c.participant_id
        ),
        "Run": select(runs.c.id, no_project, runs.c.study_id),
        "Trajectory": by_run(trajectories),
        "Chunk": by_run(chunks),
        "RunArtifact": by_run(artifacts),
        "AgentOutput": by_run(outputs),
    }


_SCOPES = _scope_queries()


async def scopes_of(
    session: AsyncSession, subjects: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Scope]:
    """The scope of each (type name, id), in one statement. Types of the whole server,
    and rows that do not exist, are the whole server's."""
    wanted: dict[str, set[int]] = {}
    for type_name, row_id in subjects:
        wanted.setdefault(type_name, set()).add(row_id)
    parts: list[Any] = []
    for type_name, row_ids in wanted.items():
        query = _SCOPES.get(type_name)
        if query is None:
            continue
        id_column = query.selected_columns[0]
        parts.append(
            query.add_columns(literal(type_name).label("type")).where(
                id_column == any_(ids(sorted(row_ids)))
            )
        )
    scopes: dict[tuple[str, int], Scope] = {}
    if parts:
        statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
        for row_id, project_id, study_id, type_name in await session.execute(statement):
            scopes[(type_name, row_id)] = Scope(project_id, study_id)
    return {
        (type_name, row_id): scopes.get((type_name, row_id), SERVER)
        for type_name, row_ids in wanted.items()
        for row_id in row_ids
    }


async def authorize_changes(
    session: AsyncSession, access: Access, action: Action, subjects: Iterable[tuple[str, int]]
) -> None:
    """Refuse unless the caller may `action` on the scope of every subject."""
    scopes = await scopes_of(session, subjects)
    for (type_name, row_id), scope in sorted(scopes.items()):
        if not access.may(action, scope):
            access.require(action, scope, f"{type_name} {GlobalID(type_name, str(row_id))}")
