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
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.annotation import _deep_deannotate
from sqlalchemy.sql.util import find_tables

from scimeta import models
from scimeta.errors import ClientError
from scimeta.loaders.batch import key_array
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
    def visibility(self) -> dict[type[models.Base], ColumnElement[bool]]:
        """The condition each entity's rows meet to be the caller's; none for a caller
        who reads everything. The loaders' criteria and compiled reads both come from
        here."""
        if self.reads_all:
            return {}
        return visible_rows(self.projects, self.studies)

    @cached_property
    def criteria(self) -> dict[Any, Any]:
        """The loader criteria that keep the caller's rows only, by the entity's table."""
        return {
            model.__table__: with_loader_criteria(model, condition, include_aliases=True)
            for model, condition in self.visibility.items()
        }

    def criteria_of(self, statement: Any) -> list[Any]:
        """The criteria of the entities `statement` reads, at any depth: each criterion
        adds to the statement's cache key, computed on every execution."""
        criteria = self.criteria
        return [
            criteria[table]
            for table in dict.fromkeys(find_tables(statement, include_aliases=True))
            if table in criteria
        ]


def visible_rows(
    projects: Sequence[int], studies: Sequence[int]
) -> dict[type[models.Base], ColumnElement[bool]]:
    """Per entity, the condition its rows must meet to be visible to a caller with roles
    on `projects` and `studies` only. The subqueries are on tables, not entities, so the
    criteria are not applied to them again."""
    t = models.Base.metadata.tables
    project_ids, study_ids = key_array(projects), key_array(studies)

    def in_projects(column: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = column == any_(project_ids)
        return condition

    def in_studies(column: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = column == any_(study_ids)
        return condition

    def rows(table: str, condition: ColumnElement[bool]) -> Select[Any]:
        return select(t[table].c.id).where(condition)

    jobs = rows("jobs", in_projects(t["jobs"].c.project_id))
    participants = rows("participants", in_studies(t["participants"].c.study_id))
    recordings = rows("recordings", t["recordings"].c.participant_id.in_(participants))
    runs = rows("runs", in_studies(t["runs"].c.study_id))
    chunks = rows("chunks", t["chunks"].c.run_id.in_(runs))

    def files_of(table: str, condition: ColumnElement[bool]) -> Select[Any]:
        return select(t[table].c.file_id).where(condition, t[table].c.file_id.is_not(None))

    m = models
    # a file belongs to its project, or to the rows that refer to it
    file_condition = or_(
        in_projects(m.File.project_id),
        m.File.id.in_(files_of("recordings", t["recordings"].c.id.in_(recordings))),
        m.File.id.in_(files_of("run_artifacts", t["run_artifacts"].c.run_id.in_(runs))),
        m.File.id.in_(files_of("chunks", t["chunks"].c.run_id.in_(runs))),
        m.File.id.in_(
            files_of("synchronizations", t["synchronizations"].c.audio_recording_id.in_(recordings))
        ),
    )
    conditions: dict[type[models.Base], ColumnElement[bool]] = {
        m.Project: in_projects(m.Project.id),
        m.Job: in_projects(m.Job.project_id),
        m.File: file_condition,
        m.JobFile: m.JobFile.job_id.in_(jobs),
        m.Study: in_studies(m.Study.id),
        m.Participant: in_studies(m.Participant.study_id),
        m.Recording: m.Recording.participant_id.in_(participants),
        m.RecordingChannel: m.RecordingChannel.recording_id.in_(recordings),
        m.MovementCycle: m.MovementCycle.recording_id.in_(recordings),
        m.Synchronization: m.Synchronization.audio_recording_id.in_(recordings),
        m.Run: in_studies(m.Run.study_id),
        m.Trajectory: m.Trajectory.run_id.in_(runs),
        m.Chunk: m.Chunk.run_id.in_(runs),
        m.RunArtifact: m.RunArtifact.run_id.in_(runs),
        m.AgentOutput: m.AgentOutput.run_id.in_(runs),
        m.Metric: or_(
            m.Metric.job_id.in_(jobs),
            m.Metric.run_id.in_(runs),
            m.Metric.chunk_id.in_(chunks),
            m.Metric.recording_id.in_(recordings),
        ),
    }
    # the whole server's rows: visible only with a grant on everything
    for model in (m.Molecule, m.Calculation, m.AtomicProperty, m.Batch, m.BatchItem):
        conditions[model] = false()
    # an event is visible with its subject (the log keeps events of deleted rows, which
    # only callers who read everything see)
    subjects: dict[type[models.Base], Select[Any]] = {
        # without the ORM's annotations: a plain subquery, which no criteria are added to
        model: select(t[model.__tablename__].c.id).where(_deep_deannotate(condition))
        for model, condition in conditions.items()
        if model.__tablename__ in SUBJECT_TABLES
    }
    conditions[m.Event] = or_(
        *(
            and_(m.Event.subject_type == model.__name__, m.Event.subject_id.in_(visible))
            for model, visible in subjects.items()
        )
    )
    return conditions


# Relations, as (local column, remote column), along which every row related to a visible
# row is visible too, by the conditions above and the database's constraints: a sub-job
# is in its parent's project and a chunk in its trajectory's run (composite foreign
# keys), a metric has exactly one owner (a CHECK), and a file referred to by a visible
# recording or run artifact is visible. A relation filter along them needs no condition
# of its own: the row it starts from was restricted once, and a chain of them costs what
# it costs a caller who reads everything, at any depth. The others (a job file's file,
# which may be another project's) keep their related entity's condition.
SAME_SCOPE_RELATIONS = frozenset(
    {
        ("projects.id", "jobs.project_id"),
        ("jobs.project_id", "projects.id"),
        ("jobs.parent_id", "jobs.id"),
        ("jobs.id", "job_files.job_id"),
        ("jobs.id", "metrics.job_id"),
        ("metrics.job_id", "jobs.id"),
        ("metrics.run_id", "runs.id"),
        ("metrics.chunk_id", "chunks.id"),
        ("metrics.recording_id", "recordings.id"),
        ("studies.id", "participants.study_id"),
        ("studies.id", "runs.study_id"),
        ("participants.study_id", "studies.id"),
        ("participants.id", "recordings.participant_id"),
        ("recordings.participant_id", "participants.id"),
        ("recordings.file_id", "files.id"),
        ("recordings.id", "metrics.recording_id"),
        ("runs.study_id", "studies.id"),
        ("runs.id", "metrics.run_id"),
        ("run_artifacts.file_id", "files.id"),
        ("trajectories.run_id", "runs.id"),
        ("chunks.run_id", "runs.id"),
        ("chunks.trajectory_id", "trajectories.id"),
    }
)


def keeps_scope(local: Any, remote: Any) -> bool:
    """Whether the rows `remote` relates to a visible row through `local` are all visible
    (see `SAME_SCOPE_RELATIONS`)."""
    return (_column_name(local), _column_name(remote)) in SAME_SCOPE_RELATIONS


def _column_name(attribute: Any) -> str:
    column = attribute.property.columns[0]
    return f"{column.table.name}.{column.name}"


# The tables whose rows events are about, among those a project or study scopes.
SUBJECT_TABLES = frozenset(
    {
        "projects",
        "jobs",
        "files",
        "studies",
        "participants",
        "recordings",
        "synchronizations",
        "runs",
        "trajectories",
        "chunks",
        "run_artifacts",
        "agent_outputs",
        "metrics",
    }
)


@event.listens_for(Session, "do_orm_execute")
def _only_visible_rows(state: ORMExecuteState) -> None:
    """Add the caller's criteria to every ORM select, update and delete of a session
    that carries an `Access` (a request's); sessions without one (the command line, the
    listener, the sweeper) see everything."""
    access: Access | None = state.session.info.get("access")
    if access is None or not access.criteria:
        return
    if state.is_select or state.is_update or state.is_delete:
        criteria = access.criteria_of(state.statement)
        if criteria:
            state.statement = state.statement.options(*criteria)


def bind(session: AsyncSession, access: Access) -> None:
    """Make `session` read and write as the caller `access` describes."""
    session.sync_session.info["access"] = access


def access_of(session: AsyncSession) -> Access | None:
    result: Access | None = session.sync_session.info.get("access")
    return result


# Where each kind of subject belongs: a query per type giving (id, project_id, study_id).
def _scope_queries() -> dict[str, Any]:
    """Per subject type, a select of (id, project_id, study_id). The lookups of a study
    read aliases of their tables, so that they never correlate with the outer row's."""
    t = models.Base.metadata.tables
    no_id = null().cast(BigInteger)
    jobs, files = t["jobs"], t["files"]
    runs, chunks, metrics = t["runs"], t["chunks"], t["metrics"]

    def study_of_run(run_id: Any) -> Any:
        run = runs.alias()
        return select(run.c.study_id).where(run.c.id == run_id).scalar_subquery()

    def study_of_recording(recording_id: Any) -> Any:
        recording, participant = t["recordings"].alias(), t["participants"].alias()
        return (
            select(participant.c.study_id)
            .join(recording, recording.c.participant_id == participant.c.id)
            .where(recording.c.id == recording_id)
            .scalar_subquery()
        )

    def study_of_chunk(chunk_id: Any) -> Any:
        run, chunk = runs.alias(), chunks.alias()
        return (
            select(run.c.study_id)
            .join(chunk, chunk.c.run_id == run.c.id)
            .where(chunk.c.id == chunk_id)
            .scalar_subquery()
        )

    def project_of_job(job_id: Any) -> Any:
        job = jobs.alias()
        return select(job.c.project_id).where(job.c.id == job_id).scalar_subquery()

    def by_run(name: str) -> Select[Any]:
        table = t[name]
        return select(table.c.id, no_id, study_of_run(table.c.run_id))

    def by_recording(name: str, column: str) -> Select[Any]:
        table = t[name]
        return select(table.c.id, no_id, study_of_recording(table.c[column]))

    def referring(name: str, study: Any) -> Any:
        """The study of the first row of table `name` that refers to the file."""
        table = t[name]
        return select(study(table)).where(table.c.file_id == files.c.id).limit(1).scalar_subquery()

    return {
        "Project": select(t["projects"].c.id, t["projects"].c.id, no_id),
        "Job": select(jobs.c.id, jobs.c.project_id, no_id),
        "JobFile": select(t["job_files"].c.id, project_of_job(t["job_files"].c.job_id), no_id),
        # a file without a project belongs to the study of what refers to it
        "File": select(
            files.c.id,
            files.c.project_id,
            func.coalesce(
                referring("recordings", lambda r: study_of_recording(r.c.id)),
                referring("run_artifacts", lambda a: study_of_run(a.c.run_id)),
                referring("chunks", lambda c: study_of_run(c.c.run_id)),
                referring("synchronizations", lambda y: study_of_recording(y.c.audio_recording_id)),
            ),
        ),
        "Study": select(t["studies"].c.id, no_id, t["studies"].c.id),
        "Participant": select(t["participants"].c.id, no_id, t["participants"].c.study_id),
        "Recording": by_recording("recordings", "id"),
        "RecordingChannel": by_recording("recording_channels", "recording_id"),
        "MovementCycle": by_recording("movement_cycles", "recording_id"),
        "Synchronization": by_recording("synchronizations", "audio_recording_id"),
        "Run": select(runs.c.id, no_id, runs.c.study_id),
        "Trajectory": by_run("trajectories"),
        "Chunk": by_run("chunks"),
        "RunArtifact": by_run("run_artifacts"),
        "AgentOutput": by_run("agent_outputs"),
        "Metric": select(
            metrics.c.id,
            project_of_job(metrics.c.job_id),
            func.coalesce(
                study_of_run(metrics.c.run_id),
                study_of_chunk(metrics.c.chunk_id),
                study_of_recording(metrics.c.recording_id),
            ),
        ),
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
                id_column == any_(key_array(sorted(row_ids)))
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
    for (type_name, _), scope in sorted(scopes.items()):
        # named by its type only: a row this write made has an id nobody else will see
        access.require(action, scope, f"this {type_name}")
