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

Scopes: both are derived from each entity's owner, as `scimeta.models.ownership` declares
it, so a new entity needs nothing here:

- a `project` or `study` column: a row is visible with a role on the project or study it
  names, and a change to it needs one there;
- `parents`: a row is visible where any of the rows it hangs off is (a parent of the
  whole server's adds nothing), and is changed in the scope of the one it hangs off;
- `referrers` (a file): visible with a role on its project, or where a row referring to
  it is visible; changed in its project, or in the study of a row referring to it;
- `subjects` (an event): visible where the row it is about is visible;
- none of these, the whole server's: `Reach.SERVER` rows (the chemistry store) are
  visible only with a grant on everything; `Reach.EVERYONE` rows (the metric catalogue)
  and `Reach.INTERNAL` ones (tokens, idempotency keys) get no condition. A change to any
  of them needs a grant on everything, as does a change to a row that names no project
  or study (a run without a study).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
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
from sqlalchemy.orm import InstrumentedAttribute, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from scimeta import models
from scimeta.errors import ClientError
from scimeta.loaders.batch import key_array, primary_key_attribute
from scimeta.models import Role, ownership
from scimeta.models.ownership import Reach
from scimeta.sqlalchemy_internals import deep_deannotate

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
    on `projects` and `studies` only, derived from the ownership declarations; entities
    every caller reads have none. The subqueries are on tables, not entities, so the
    criteria are not applied to them again."""
    rules = _Visibility(key_array(projects), key_array(studies))
    conditions: dict[type[models.Base], ColumnElement[bool]] = {}
    for model in ownership.declarations():
        condition = rules.condition(model)
        if condition is not None:
            conditions[model] = condition
    return conditions


class _Visibility:
    """The conditions of one caller's rows, each built once: the subquery of a parent's
    visible rows is shared by every entity hanging off it."""

    def __init__(self, project_ids: ColumnElement[Any], study_ids: ColumnElement[Any]) -> None:
        self.project_ids = project_ids
        self.study_ids = study_ids
        self.conditions: dict[type[models.Base], ColumnElement[bool] | None] = {}
        self.selects: dict[type[models.Base], Select[Any] | None] = {}

    def condition(self, model: type[models.Base]) -> ColumnElement[bool] | None:
        """The condition on `model`'s mapped columns; None: every row is visible."""
        if model not in self.conditions:
            self.conditions[model] = self._condition(model)
        return self.conditions[model]

    def rows(self, model: type[models.Base]) -> Select[Any] | None:
        """A select of the ids of `model`'s visible rows, on its plain table; None for the
        whole server's entities, whose rows make nothing else visible."""
        if model not in self.selects:
            self.selects[model] = None
            if _scoped(model):
                self.selects[model] = select(_plain(_key(model))).where(self.plain(model))
        return self.selects[model]

    def plain(self, model: type[models.Base]) -> ColumnElement[bool]:
        """`model`'s condition on its plain table: without the ORM's annotations, no
        criteria are added to a subquery holding it."""
        condition = self.condition(model)
        assert condition is not None, model
        plain: ColumnElement[bool] = deep_deannotate(condition)
        return plain

    def _condition(self, model: type[models.Base]) -> ColumnElement[bool] | None:
        owner = ownership.declaration_of(model).owner
        if owner.subjects:
            return self._about_visible_subjects(model)
        if not owner.scoped:
            return false() if owner.reach is Reach.SERVER else None
        terms: list[ColumnElement[bool]] = []
        if owner.project is not None:
            terms.append(owner.project == any_(self.project_ids))
        if owner.study is not None:
            terms.append(owner.study == any_(self.study_ids))
        for column in owner.parents:
            parents = self.rows(ownership.target_of(model, column))
            if parents is not None:
                terms.append(column.in_(parents))
        for column in owner.referrers:
            referrer = ownership.referred_by(column)
            if _scoped(referrer):
                referring = _plain(column)
                terms.append(
                    _key(model).in_(
                        select(referring).where(self.plain(referrer), referring.is_not(None))
                    )
                )
        return _any_of(terms)

    def _about_visible_subjects(self, model: type[models.Base]) -> ColumnElement[bool]:
        """An event is visible with its subject (the log keeps events of deleted rows,
        which only callers who read everything see)."""
        subject_type, subject_id = _subject_columns(model)
        terms: list[ColumnElement[bool]] = []
        for subject in ownership.declarations():
            visible = self.rows(subject)
            if visible is not None:
                terms.append(and_(subject_type == subject.__name__, subject_id.in_(visible)))
        return _any_of(terms)


def _scoped(model: type[models.Base]) -> bool:
    """Whether a project or study owns `model`'s rows, through their own columns or the
    rows they hang off (an event's subject is looked up by its type)."""
    owner = ownership.declaration_of(model).owner
    return owner.scoped and not owner.subjects


def _key(model: type[models.Base]) -> InstrumentedAttribute[Any]:
    return primary_key_attribute(model)


def _plain(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """The table's column, without the ORM's annotations."""
    plain: ColumnElement[Any] = column.property.columns[0]
    return plain


def _subject_columns(
    model: type[models.Base],
) -> tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]]:
    """The columns naming the type and the id of the row an event is about."""
    subject_type: InstrumentedAttribute[Any] = getattr(model, "subject_type")  # noqa: B009
    subject_id: InstrumentedAttribute[Any] = getattr(model, "subject_id")  # noqa: B009
    return subject_type, subject_id


def _any_of(terms: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    if not terms:
        return false()
    return terms[0] if len(terms) == 1 else or_(*terms)


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


def _scope_query(type_name: str) -> Select[Any] | None:
    """The select of (id, project_id, study_id) of the rows of the scoped entity named
    `type_name`; None for the whole server's and for unknown names."""
    for model in ownership.declarations():
        if model.__name__ == type_name:
            return _scope_select(model) if _scoped(model) else None
    return None


@cache
def _scope_select(model: type[models.Base]) -> Select[Any]:
    """Where `model`'s rows belong, as (id, project_id, study_id). The lookups of a row's
    project or study in the rows it hangs off, or in those that refer to it, read
    aliases of their tables, so that they never correlate with the outer row's."""
    table = ownership.table_of(model)
    project, study = _scope_columns(model, table)
    no_id = null().cast(BigInteger)
    return select(
        _on(table, _key(model)),
        no_id if project is None else project,
        no_id if study is None else study,
    )


def _scope_columns(model: type[models.Base], table: FromClause) -> tuple[Any, Any]:
    """The project and the study of a row of `model` read from `table` (its table or an
    alias of it); None where it never has one. Of several parents, the one set gives
    them; a row referred to is in the study of the first row referring to it."""
    owner = ownership.declaration_of(model).owner
    projects: list[Any] = []
    studies: list[Any] = []
    if owner.project is not None:
        projects.append(_on(table, owner.project))
    if owner.study is not None:
        studies.append(_on(table, owner.study))
    for column in owner.parents:
        project, study = _scope_of_row(ownership.target_of(model, column), _on(table, column))
        projects += [project] if project is not None else []
        studies += [study] if study is not None else []
    for column in owner.referrers:
        referrer = ownership.referred_by(column)
        if not _scoped(referrer):
            continue
        referring = ownership.table_of(referrer).alias()
        _, study = _scope_columns(referrer, referring)
        if study is not None:
            first = select(study).where(_on(referring, column) == _on(table, _key(model)))
            studies.append(first.limit(1).scalar_subquery())
    return _first_of(projects), _first_of(studies)


def _scope_of_row(model: type[models.Base], row_id: Any) -> tuple[Any, Any]:
    """The project and the study of the row of `model` whose id is `row_id`, as scalar
    subqueries on an alias of its table; None where it never has one."""
    if not _scoped(model):
        return None, None
    table = ownership.table_of(model).alias()
    project, study = _scope_columns(model, table)

    def looked_up(value: Any) -> Any:
        if value is None:
            return None
        return select(value).where(_on(table, _key(model)) == row_id).scalar_subquery()

    return looked_up(project), looked_up(study)


def _on(table: FromClause, column: InstrumentedAttribute[Any]) -> Any:
    """`column` (a mapped attribute) in `table`, its table or an alias of it."""
    name: str = column.property.columns[0].key
    return table.c[name]


def _first_of(values: Sequence[Any]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else func.coalesce(*values)


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
        query = _scope_query(type_name)
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
