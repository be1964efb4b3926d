"""Studies by spec hash, runs through their phases and statuses, artifacts, agent outputs.

The runs domain's other writes are its modules: `claims` (leased claims of queued runs),
`lifecycle` (the status lifecycle, and the audit and phase orders) and `trajectories`
(trajectories and their chunk attempts).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, String, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from scimeta import models
from scimeta.errors import BadUserInput, Conflict, NotFound
from scimeta.models import RunPhase, Status
from scimeta.writes.columns import Names
from scimeta.writes.core import FileSpec
from scimeta.writes.core.files import FileColumns, check_files, insert_files
from scimeta.writes.lifecycle import set_phase, set_status
from scimeta.writes.transaction import Writer, check_version, global_id
from scimeta.writes.unique import create_unique, insert_new

# Lengths of the text columns, checked before writing so that the error names the field.
NAME_LENGTH = 255
ROLE_LENGTH = 64
SCHEMA_VERSION_LENGTH = 64


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: keys sorted, no spaces. The demo studies are hashed
    from the same text, so a spec stored either way has one hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def spec_hash(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def checked_text(value: str, field: str, max_length: int) -> str:
    if not value:
        raise BadUserInput(f"{field} must not be empty.", field=field)
    if len(value) > max_length:
        raise BadUserInput(
            f"{field} is {len(value)} characters long; at most {max_length} fit.", field=field
        )
    return value


async def _study_where(writer: Writer, condition: Any) -> models.Study | None:
    found = await writer.session.scalars(select(models.Study).where(condition))
    return found.one_or_none()


async def upsert_study_by_spec(
    writer: Writer,
    spec: dict[str, Any],
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
) -> tuple[models.Study, bool]:
    """The study of `spec`, created if no study has its hash yet; (study, created)."""
    digest = spec_hash(spec)
    known = await _study_where(writer, models.Study.spec_hash == digest)
    if known is not None:
        return known, False
    # a new study is the whole server's to make: checked before any name is compared
    writer.authorize_server("create studies")
    name = checked_text(name, "name", NAME_LENGTH) if name is not None else f"spec-{digest[:12]}"
    values = {
        "name": name,
        "title": title,
        "description": description,
        "spec": spec,
        "spec_hash": digest,
    }
    study = await insert_new(writer, models.Study, values)
    if study is not None:
        return study, True
    # A study took the hash or the name first, maybe a concurrent call with this spec.
    known = await _study_where(writer, models.Study.spec_hash == digest)
    if known is not None:
        return known, False
    namesake = await _study_where(writer, models.Study.name == name)
    if namesake is None:
        owner, details = "a study of another spec", {}
    else:
        spec_of = f"specHash {namesake.spec_hash}" if namesake.spec_hash else "no spec"
        owner = f"{global_id(namesake)}, a study with {spec_of}"
        details = {"existingId": global_id(namesake)}
    raise Conflict(
        f"The study name {name!r} is taken by {owner}. Choose another name, or leave it out "
        f"to get spec-{digest[:12]}.",
        reason="ALREADY_EXISTS",
        **details,
    )


async def study_by_spec_hash(writer: Writer, digest: str) -> models.Study:
    study = await _study_where(writer, models.Study.spec_hash == digest)
    if study is None:
        raise NotFound(
            f"No study has the specHash {digest!r}; store the spec with upsertStudyBySpec first.",
            field="specHash",
        )
    return study


async def create_run(
    writer: Writer,
    *,
    name: str,
    study_id: int | None = None,
    study_spec_hash: str | None = None,
    phase: RunPhase = RunPhase.BUNDLE,
    attributes: dict[str, Any] | None = None,
) -> models.Run:
    """A new PENDING run, of the study given by id or by spec hash (or of none)."""
    checked_text(name, "name", NAME_LENGTH)
    if study_id is not None and study_spec_hash is not None:
        raise BadUserInput("Give the study by studyId or by specHash, not both.", field="specHash")
    if study_spec_hash is not None:
        study_id = (await study_by_spec_hash(writer, study_spec_hash)).id
    elif study_id is not None:
        study_id = (await writer.get(models.Study, study_id)).id
    # checked before the name is compared, so that a caller who may not create the run
    # learns nothing from it; a name taken meanwhile by a concurrent call is refused as one
    # taken before
    if study_id is None:
        writer.authorize_server("create runs without a study")
    else:
        await writer.authorize([("Study", study_id)])

    async def taken() -> Conflict | None:
        namesake = await writer.session.scalars(select(models.Run).where(models.Run.name == name))
        run = namesake.one_or_none()
        if run is None:
            return None
        return Conflict(
            f"A run named {name!r} already exists ({global_id(run)}); run names are unique.",
            reason="ALREADY_EXISTS",
            existingId=global_id(run),
        )

    values = {
        "name": name,
        "study_id": study_id,
        "status": Status.PENDING,
        "phase": phase,
        "attributes": attributes or {},
    }
    return await create_unique(writer, models.Run, values, key=["name"], taken=taken)


async def move_run_status(
    writer: Writer, run: models.Run, target: Status, error: dict[str, Any] | None = None
) -> None:
    """Set a locked run's status. A run that fails keeps `error`; one that moves on from a
    failure drops it (the status_changed event of the failure still holds it).

    A run set to any status but RUNNING is no longer a worker's: its lease ends here (the
    worker's next renewal or release is refused as stale), and the event says whose it was.
    """
    if error is not None and target != Status.FAILED:
        raise BadUserInput(
            f"error describes a failure: pass it with status FAILED, not {target.value}.",
            field="error",
        )
    payload: dict[str, Any] = {"error": error} if error is not None else {}
    if target != Status.RUNNING and run.lease_token is not None and run.status != target:
        payload["leaseEndedFor"] = run.claimed_by
        clear_lease(run)
    if await set_status(
        writer, run, target, finished_attribute="ended_at", payload=payload or None
    ):
        run.error = error


def clear_lease(run: models.Run) -> None:
    """The run is no worker's any more: its lease token no longer proves anything."""
    run.claimed_by = None
    run.lease_token = None
    run.lease_expires_at = None


async def set_run_phase(
    writer: Writer,
    run_id: int,
    phase: RunPhase,
    status: Status | None = None,
    *,
    expected_version: int | None = None,
) -> models.Run:
    """Move the run forward to `phase`, and to `status` in the same step if given."""
    run = await writer.lock(models.Run, run_id)
    check_version(run, expected_version)
    set_phase(writer, run, phase)
    if status is not None:
        await move_run_status(writer, run, status)
    return run


async def set_run_status(
    writer: Writer,
    run_id: int,
    status: Status,
    *,
    error: dict[str, Any] | None = None,
    expected_version: int | None = None,
) -> models.Run:
    run = await writer.lock(models.Run, run_id)
    check_version(run, expected_version)
    await move_run_status(writer, run, status, error)
    return run


@dataclass
class ArtifactSpec:
    role: str
    file: FileSpec


@dataclass
class ArtifactColumns:
    """Run artifacts as one list per column, entry n of each being artifact n's. `names`
    says how errors name a value: as in the list of objects the client sent
    (`artifacts[3].role`) or in its columns (`artifactColumns.role[3]`)."""

    role: Sequence[str]
    file: FileColumns
    names: Names = field(default_factory=lambda: Names("artifacts"))

    def __len__(self) -> int:
        return len(self.role)

    @classmethod
    def of(cls, artifacts: Sequence[ArtifactSpec]) -> ArtifactColumns:
        """The columns of a list of artifacts, named in errors as that list."""
        return cls(
            role=[artifact.role for artifact in artifacts],
            file=FileColumns.of([artifact.file for artifact in artifacts]),
        )


async def add_run_artifacts(
    writer: Writer, run_id: int, artifacts: ArtifactColumns | Sequence[ArtifactSpec]
) -> tuple[models.Run, list[models.RunArtifact]]:
    """Register files a run produced, the files and the artifacts in one INSERT each; the
    run's log gets one event with the roles."""
    columns = artifacts if isinstance(artifacts, ArtifactColumns) else ArtifactColumns.of(artifacts)
    for position, role in enumerate(columns.role):
        checked_text(role, columns.names.value(position, "role"), ROLE_LENGTH)
    rows = check_files(columns.file, columns.names)
    run = await writer.lock(models.Run, run_id)
    if not rows:
        writer.event(run, "artifacts_added", {"count": 0, "roles": {}})
        return run, []
    file_ids = await insert_files(writer, columns.file, rows, None)
    given = (
        func.unnest(
            literal(file_ids, ARRAY(BigInteger)), literal(list(columns.role), ARRAY(String))
        )
        .table_valued("file_id", "role", with_ordinality="n")
        .render_derived()
    )
    inserted = await writer.session.scalars(
        insert(models.RunArtifact)
        .from_select(
            ["run_id", "file_id", "role"],
            select(literal(run.id, BigInteger), given.c.file_id, given.c.role).order_by(given.c.n),
        )
        .returning(models.RunArtifact),
        execution_options={"populate_existing": True},
    )
    # identities are taken in the order the rows are inserted: that of the arrays
    added = sorted(inserted, key=lambda artifact: artifact.id)
    roles = Counter(columns.role)
    writer.event(run, "artifacts_added", {"count": len(added), "roles": dict(roles)})
    return run, added


async def store_agent_output(
    writer: Writer,
    run_id: int,
    *,
    agent: str,
    kind: str,
    data: dict[str, Any],
    schema_version: str | None = None,
) -> models.AgentOutput:
    """Add an agent's output to the run's history; earlier outputs stay."""
    checked_text(agent, "agent", NAME_LENGTH)
    checked_text(kind, "kind", NAME_LENGTH)
    if schema_version is not None:
        checked_text(schema_version, "schemaVersion", SCHEMA_VERSION_LENGTH)
    run = await writer.get(models.Run, run_id)
    output = models.AgentOutput(
        run_id=run.id, agent=agent, kind=kind, data=data, schema_version=schema_version
    )
    return await writer.create(output)
