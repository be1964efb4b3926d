"""Each entity's owner and relations, declared once.

Every mapped class has one `Declaration`: who owns its rows (a project, a study, the
rows it hangs off, or the whole server), and the relations GraphQL follows from it, by
name. Everything that needs to know either is derived from here:

- what a caller may read (`scimeta.auth.policy.visible_rows`) and where a change needs a
  role (`scimeta.auth.policy.scopes_of`), and the relations along which a related row is
  as visible as the row it starts from (`Relation.same_scope`);
- the relations of the `<Entity>Where` inputs, the parent keys of list fields and the
  to-one fields the planner compiles to joins (`scimeta.schema`, `scimeta.planner`);
- which subscriptions and events a row's scope reaches (`scimeta.live`).

Adding an entity means adding its model, its declaration below (or next to the model,
with `declare`), and its GraphQL type; `tests/test_ownership.py` fails for a mapped class
without a declaration, or a declaration that does not match the foreign keys.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import InstrumentedAttribute

from scimeta.models import chemistry, core, jobs, runs, studies
from scimeta.models.auth import ApiToken, TokenGrant
from scimeta.models.base import Base

Column = InstrumentedAttribute[Any]


class Domain(enum.Enum):
    """The part of the mission an entity belongs to: the same names are used for the
    modules of every layer (models, writes, schema, resolvers, tests)."""

    CORE = "core"
    JOBS = "jobs"
    STUDIES = "studies"
    RUNS = "runs"
    CHEMISTRY = "chemistry"


class Reach(enum.Enum):
    """Who reads the rows of an entity that no project or study owns."""

    # callers with a grant on everything: the chemistry store
    SERVER = "server"
    # every caller (changed only with a grant on everything): the metric catalogue
    EVERYONE = "everyone"
    # the rows' own code only, never a request's reads: tokens, idempotency keys
    INTERNAL = "internal"


@dataclass(frozen=True)
class Owner:
    """Where an entity's rows belong; the first that applies:

    - `project`/`study`: the column holding the id of the owning project or study (a
      project's or study's own `id`);
    - `parents`: foreign keys to rows whose scope a row shares, of which one is set (a
      metric hangs off a job, a run, a chunk, a recording or a calculation);
    - `referrers`: other entities' foreign keys to this one: a row belongs, besides to
      its `project`, to the scope of the rows referring to it (a file);
    - `subjects`: the row is an event, in the scope of the row it is about;
    - none of these: the whole server's, read as `reach` says.
    """

    project: Column | None = None
    study: Column | None = None
    parents: tuple[Column, ...] = ()
    referrers: tuple[Column, ...] = ()
    subjects: bool = False
    reach: Reach = Reach.SERVER

    @property
    def scoped(self) -> bool:
        return bool(
            self.project is not None
            or self.study is not None
            or self.parents
            or self.referrers
            or self.subjects
        )


def project(column: Column, *, referrers: tuple[Column, ...] = ()) -> Owner:
    return Owner(project=column, referrers=referrers)


def study(column: Column) -> Owner:
    return Owner(study=column)


def parent(*columns: Column) -> Owner:
    return Owner(parents=columns)


def server(reach: Reach = Reach.SERVER) -> Owner:
    return Owner(reach=reach)


@dataclass(frozen=True)
class One:
    """A to-one relation: this entity's `column` refers to another's `id`.

    `same_scope` says that the row referred to is always in the scope of the row
    referring to it even where the ownership does not say so (a sub-job's parent job, a
    chunk's trajectory: composite foreign keys keep them in the same project or run).
    `reverse` names the relation back, declared on the other entity by this one."""

    column: Column
    same_scope: bool = False
    reverse: str | None = None
    # a field of the `<Entity>Where` input (false: a GraphQL field only)
    filterable: bool = True
    # the entity referred to, where no foreign key of `column` alone names it (a chunk's
    # run_id is checked through its trajectory's)
    target: type[Base] | None = None


@dataclass(frozen=True)
class Many:
    """A to-many relation: the rows of another entity whose `column` refers to this one's
    `id`."""

    column: Column
    # a field of the `<Entity>Where` input (false: a list field only)
    filterable: bool = True


@dataclass(frozen=True)
class Declaration:
    model: type[Base]
    domain: Domain
    owner: Owner
    relations: Mapping[str, One | Many] = field(default_factory=dict)


@dataclass(frozen=True)
class Relation:
    """A declared relation, resolved: rows of `target` whose `remote` column equals the
    `local` column of a row of `model`."""

    model: type[Base]
    name: str
    local: Column
    remote: Column
    target: type[Base]
    many: bool
    # every target row related to a visible row is visible, by the ownership and the
    # database's constraints: a filter along it needs no visibility condition of its own
    same_scope: bool
    filterable: bool = True


_DECLARATIONS: dict[type[Base], Declaration] = {}


def declare(
    model: type[Base],
    domain: Domain,
    owner: Owner,
    relations: Mapping[str, One | Many] | None = None,
) -> Declaration:
    """Declare `model`'s owner and relations (once)."""
    if model in _DECLARATIONS:
        raise ValueError(f"{model.__name__} is declared twice")
    declaration = Declaration(model, domain, owner, dict(relations or {}))
    _DECLARATIONS[model] = declaration
    _resolved.cache_clear()
    return declaration


def declarations() -> Mapping[type[Base], Declaration]:
    return _DECLARATIONS


def declaration_of(model: type[Base]) -> Declaration:
    try:
        return _DECLARATIONS[model]
    except KeyError:
        raise LookupError(
            f"{model.__name__} has no ownership declaration: declare it with "
            "scimeta.models.ownership.declare"
        ) from None


def model_of_table(table: Any) -> type[Base]:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            model: type[Base] = mapper.class_
            return model
    raise LookupError(f"no entity is mapped to {table}")


def referred(column: Column) -> type[Base]:
    """The entity whose `id` `column`'s foreign key refers to (a column may also be part
    of a composite key, which keeps two rows in one scope)."""
    keys = [k for k in column.property.columns[0].foreign_keys if k.column.name == "id"]
    if len(keys) != 1:
        raise LookupError(f"{column_key(column)} refers to no one entity's id: name its target")
    return model_of_table(keys[0].column.table)


def target_of(model: type[Base], column: Column) -> type[Base]:
    """The entity `model`'s `column` refers to: a declared to-one relation's target, or
    the foreign key's."""
    for spec in declaration_of(model).relations.values():
        if isinstance(spec, One) and spec.target is not None and spec.column is column:
            return spec.target
    return referred(column)


def referred_by(column: Column) -> type[Base]:
    """The entity `column` is a column of."""
    return model_of_table(column.property.columns[0].table)


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def column_key(column: Column) -> str:
    """`table.column`, for messages and comparisons."""
    inner = column.property.columns[0]
    return f"{inner.table.name}.{inner.name}"


@cache
def _resolved() -> dict[type[Base], dict[str, Relation]]:
    found: dict[type[Base], dict[str, Relation]] = {model: {} for model in _DECLARATIONS}

    def add(relation: Relation) -> None:
        relations = found.setdefault(relation.model, {})
        if relation.name in relations:
            raise ValueError(f"{relation.model.__name__}.{relation.name} is declared twice")
        relations[relation.name] = relation

    for model, declaration in _DECLARATIONS.items():
        for name, spec in declaration.relations.items():
            if isinstance(spec, One):
                target = target_of(model, spec.column)
                remote: Column = target.id  # type: ignore[attr-defined]
                add(
                    Relation(
                        model, name, spec.column, remote, target, False, False, spec.filterable
                    )
                )
                if spec.reverse is not None:
                    add(
                        Relation(
                            target,
                            spec.reverse,
                            remote,
                            spec.column,
                            model,
                            True,
                            False,
                            spec.filterable,
                        )
                    )
            else:
                target = referred_by(spec.column)
                local = model.id  # type: ignore[attr-defined]
                add(Relation(model, name, local, spec.column, target, True, False, spec.filterable))
    # whether each keeps the scope, now that every relation is known
    for relations in found.values():
        for name, relation in relations.items():
            relations[name] = replace(relation, same_scope=_keeps_scope(relation))
    return found


def relations_of(model: type[Base]) -> Mapping[str, Relation]:
    """`model`'s relations by name, its own and those declared back to it by others."""
    declaration_of(model)
    return _resolved().get(model, {})


def relation(model: type[Base], name: str) -> Relation:
    try:
        return relations_of(model)[name]
    except KeyError:
        raise LookupError(f"{model.__name__} declares no relation {name!r}") from None


def all_relations() -> Iterator[Relation]:
    for relations in _resolved().values():
        yield from relations.values()


def _owning_columns(owner: Owner) -> tuple[Column, ...]:
    """The columns through which a row takes its scope from another row."""
    columns = [c for c in (owner.project, owner.study) if c is not None]
    return (*columns, *owner.parents)


def _keeps_scope(relation: Relation) -> bool:
    """Whether every `target` row related to a visible `model` row is visible, by the
    ownership and the database's constraints, so that a filter along the relation needs
    no visibility condition of its own."""
    mine, theirs = declaration_of(relation.model), declaration_of(relation.target)
    if not (mine.owner.scoped and theirs.owner.scoped):
        return False
    if mine.owner.subjects or theirs.owner.subjects:
        return False
    if relation.many:
        # the children of a visible row: their scope comes from it
        return any(
            column_key(c) == column_key(relation.remote) for c in _owning_columns(theirs.owner)
        )
    spec = mine.relations.get(relation.name)
    if isinstance(spec, One) and spec.same_scope:
        return True
    local = column_key(relation.local)
    # the row a visible row takes its scope from, or a file a visible row refers to
    return any(column_key(c) == local for c in _owning_columns(mine.owner)) or any(
        column_key(c) == local for c in theirs.owner.referrers
    )


# -- the declarations ---------------------------------------------------------------------

m_jobs, m_studies, m_runs, m_core, m_chem = jobs, studies, runs, core, chemistry
_J, _S, _R, _C, _Q = Domain.JOBS, Domain.STUDIES, Domain.RUNS, Domain.CORE, Domain.CHEMISTRY

declare(
    m_jobs.Project,
    _J,
    project(m_jobs.Project.id),
    {
        "jobs": Many(m_jobs.Job.project_id),
        "files": Many(m_core.File.project_id, filterable=False),
    },
)
declare(
    m_jobs.Job,
    _J,
    project(m_jobs.Job.project_id),
    {
        "project": One(m_jobs.Job.project_id),
        # a sub-job is in its parent's project (a composite foreign key)
        "parent": One(m_jobs.Job.parent_id, same_scope=True),
        "files": Many(m_jobs.JobFile.job_id),
        "metrics": Many(m_core.Metric.job_id),
        "children": Many(m_jobs.Job.parent_id, filterable=False),
    },
)
declare(
    m_jobs.JobFile,
    _J,
    parent(m_jobs.JobFile.job_id),
    # a job may use a file of another project: the file keeps its own scope
    {"file": One(m_jobs.JobFile.file_id)},
)
declare(
    m_core.File,
    _C,
    # a file belongs to its project, and to the scope of the rows that refer to it
    project(
        m_core.File.project_id,
        referrers=(
            m_studies.Recording.file_id,
            m_runs.RunArtifact.file_id,
            m_runs.Chunk.file_id,
            m_studies.Synchronization.file_id,
        ),
    ),
)
declare(
    m_core.MetricKey,
    _C,
    server(Reach.EVERYONE),
)
declare(
    m_core.Metric,
    _C,
    parent(
        m_core.Metric.job_id,
        m_core.Metric.run_id,
        m_core.Metric.chunk_id,
        m_core.Metric.recording_id,
        m_core.Metric.calculation_id,
    ),
    {
        "key": One(m_core.Metric.key_id),
        "job": One(m_core.Metric.job_id),
        "run": One(m_core.Metric.run_id),
        "chunk": One(m_core.Metric.chunk_id),
        "recording": One(m_core.Metric.recording_id),
        "calculation": One(m_core.Metric.calculation_id),
    },
)
declare(m_core.Event, _C, Owner(subjects=True))
declare(m_core.IdempotencyKey, _C, server(Reach.INTERNAL))
declare(ApiToken, _C, server(Reach.INTERNAL))
declare(TokenGrant, _C, server(Reach.INTERNAL))
declare(
    m_studies.Study,
    _S,
    study(m_studies.Study.id),
    {
        "participants": Many(m_studies.Participant.study_id),
        "runs": Many(m_runs.Run.study_id),
    },
)
declare(
    m_studies.Participant,
    _S,
    study(m_studies.Participant.study_id),
    {
        "study": One(m_studies.Participant.study_id),
        "recordings": Many(m_studies.Recording.participant_id),
    },
)
declare(
    m_studies.Recording,
    _S,
    parent(m_studies.Recording.participant_id),
    {
        "participant": One(m_studies.Recording.participant_id),
        "file": One(m_studies.Recording.file_id),
        "metrics": Many(m_core.Metric.recording_id),
        "channels": Many(m_studies.RecordingChannel.recording_id, filterable=False),
        "cycles": Many(m_studies.MovementCycle.recording_id, filterable=False),
        "synchronizations": Many(m_studies.Synchronization.audio_recording_id, filterable=False),
    },
)
declare(
    m_studies.RecordingChannel,
    _S,
    parent(m_studies.RecordingChannel.recording_id),
)
declare(
    m_studies.MovementCycle,
    _S,
    parent(m_studies.MovementCycle.recording_id),
)
declare(
    m_studies.Synchronization,
    _S,
    parent(m_studies.Synchronization.audio_recording_id),
    {
        "audio": One(m_studies.Synchronization.audio_recording_id, filterable=False),
        # may be a recording of another participant or study: it keeps its own scope
        "biomechanics": One(m_studies.Synchronization.biomechanics_recording_id, filterable=False),
    },
)
declare(
    m_runs.Run,
    _R,
    study(m_runs.Run.study_id),
    {
        "study": One(m_runs.Run.study_id),
        "metrics": Many(m_core.Metric.run_id),
        "artifacts": Many(m_runs.RunArtifact.run_id, filterable=False),
        "agent_outputs": Many(m_runs.AgentOutput.run_id, filterable=False),
        "trajectories": Many(m_runs.Trajectory.run_id, filterable=False),
        "chunks": Many(m_runs.Chunk.run_id, filterable=False),
    },
)
declare(
    m_runs.Trajectory,
    _R,
    parent(m_runs.Trajectory.run_id),
    {
        "run": One(m_runs.Trajectory.run_id),
        "chunks": Many(m_runs.Chunk.trajectory_id, filterable=False),
    },
)
declare(
    m_runs.Chunk,
    _R,
    parent(m_runs.Chunk.run_id),
    {
        "run": One(m_runs.Chunk.run_id, target=m_runs.Run),
        # a chunk's trajectory is of the chunk's run (a composite foreign key)
        "trajectory": One(m_runs.Chunk.trajectory_id, same_scope=True),
        "file": One(m_runs.Chunk.file_id, filterable=False),
        "metrics": Many(m_core.Metric.chunk_id, filterable=False),
    },
)
declare(
    m_runs.RunArtifact,
    _R,
    parent(m_runs.RunArtifact.run_id),
    {"file": One(m_runs.RunArtifact.file_id)},
)
declare(m_runs.AgentOutput, _R, parent(m_runs.AgentOutput.run_id))
declare(
    m_chem.Molecule,
    _Q,
    server(),
    {"calculations": Many(m_chem.Calculation.molecule_id)},
)
declare(
    m_chem.Calculation,
    _Q,
    server(),
    {
        "molecule": One(m_chem.Calculation.molecule_id),
        "metrics": Many(m_core.Metric.calculation_id),
        "atomic_properties": Many(m_chem.AtomicProperty.calculation_id, filterable=False),
    },
)
declare(m_chem.AtomicProperty, _Q, server())
declare(
    m_chem.Batch,
    _Q,
    server(),
    {"items": Many(m_chem.BatchItem.batch_id, filterable=False)},
)
declare(
    m_chem.BatchItem,
    _Q,
    server(),
    {
        "batch": One(m_chem.BatchItem.batch_id),
        "molecule": One(m_chem.BatchItem.molecule_id),
        "calculation": One(m_chem.BatchItem.calculation_id),
    },
)
