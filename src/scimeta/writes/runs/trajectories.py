"""Trajectories and their chunk attempts: start structures, attempt numbers, audits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Integer, String, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from scimeta import models
from scimeta.errors import BadUserInput, Conflict
from scimeta.models import AuditStatus
from scimeta.writes.chemistry.smiles import ELEMENTS
from scimeta.writes.columns import Names
from scimeta.writes.core import FileSpec
from scimeta.writes.core.files import FileColumns, check_files, insert_files
from scimeta.writes.lifecycle import set_audit_status
from scimeta.writes.runs import NAME_LENGTH, checked_text
from scimeta.writes.transaction import Writer, check_version, global_id, snapshot
from scimeta.writes.unique import insert_new

# ASE names a dummy atom X beside the elements.
ATOM_SYMBOLS = ELEMENTS | {"X"}
INIT_ATOMS_KEYS = ("symbols", "positions", "cell", "pbc")


def non_negative(value: int | None, field: str) -> None:
    if value is not None and value < 0:
        raise BadUserInput(f"{field} must be 0 or more, not {value}.", field=field)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _vectors(value: Any, what: str, count: int | None = None) -> list[Any]:
    """`value` as a list of [x, y, z] numbers (`count` of them if given)."""
    if not isinstance(value, list):
        raise BadUserInput(
            f"initAtoms.{what} must be a list of [x, y, z] numbers.", field="initAtoms"
        )
    if count is not None and len(value) != count:
        raise BadUserInput(
            f"initAtoms.{what} has {len(value)} rows; it needs {count}.", field="initAtoms"
        )
    for position, vector in enumerate(value):
        if not (isinstance(vector, list) and len(vector) == 3 and all(map(_is_number, vector))):
            raise BadUserInput(
                f"initAtoms.{what}[{position}] must be three numbers [x, y, z], not {vector!r}.",
                field="initAtoms",
            )
    return value


def init_atoms(value: Any) -> dict[str, Any] | None:
    """A start structure as ASE gives it, checked: `symbols` (element symbols), as many
    `positions` ([x, y, z] in Å), and optionally the `cell` (3 vectors) and `pbc` (3
    booleans)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadUserInput(
            "initAtoms must be a JSON object with symbols and positions (and optionally cell "
            f"and pbc), not {type(value).__name__}.",
            field="initAtoms",
        )
    unknown = sorted(set(value) - set(INIT_ATOMS_KEYS))
    if unknown:
        raise BadUserInput(
            f"initAtoms has unknown keys {', '.join(unknown)}; it takes "
            f"{', '.join(INIT_ATOMS_KEYS)}.",
            field="initAtoms",
        )
    symbols = value.get("symbols")
    if not isinstance(symbols, list) or not symbols:
        raise BadUserInput(
            "initAtoms.symbols must be a non-empty list of element symbols.", field="initAtoms"
        )
    for position, symbol in enumerate(symbols):
        if symbol not in ATOM_SYMBOLS:
            raise BadUserInput(
                f"initAtoms.symbols[{position}] is {symbol!r}, not an element symbol.",
                field="initAtoms",
            )
    if "positions" not in value:
        raise BadUserInput(
            "initAtoms needs positions, one [x, y, z] per symbol.", field="initAtoms"
        )
    _vectors(value["positions"], "positions", len(symbols))
    if value.get("cell") is not None:
        _vectors(value["cell"], "cell", 3)
    pbc = value.get("pbc")
    if pbc is not None and not (
        isinstance(pbc, list) and len(pbc) == 3 and all(isinstance(flag, bool) for flag in pbc)
    ):
        raise BadUserInput(
            f"initAtoms.pbc must be three booleans, one per cell vector, not {pbc!r}.",
            field="initAtoms",
        )
    return value


async def initialize_trajectory(
    writer: Writer,
    run_id: int,
    *,
    index: int,
    target_length: int,
    atoms: dict[str, Any] | None,
) -> tuple[models.Trajectory, bool]:
    """The run's trajectory `index`, created unless it exists; (trajectory, created).

    Initializing again with the same values is no change, so a restarted engine may
    repeat the call; different values are refused rather than silently kept or replaced.
    """
    non_negative(index, "index")
    non_negative(target_length, "targetLength")
    run = await writer.get(models.Run, run_id)
    values = {
        "run_id": run.id,
        "index": index,
        "target_length": target_length,
        "init_atoms": atoms,
    }
    at_index = select(models.Trajectory).where(
        models.Trajectory.run_id == run.id, models.Trajectory.index == index
    )
    existing = (await writer.session.scalars(at_index)).one_or_none()
    if existing is None:
        trajectory = await insert_new(writer, models.Trajectory, values)
        if trajectory is not None:
            return trajectory, True
        # A concurrent call initialized it first: (run, index) is the only key a new row
        # can share with another.
        existing = (await writer.session.scalars(at_index)).one()
    if (existing.target_length, existing.init_atoms) != (target_length, atoms):
        raise Conflict(
            f"Trajectory {index} of run {run.name!r} exists ({global_id(existing)}) with "
            "another targetLength or initAtoms; a trajectory's start is fixed once set.",
            reason="ALREADY_EXISTS",
            existingId=global_id(existing),
        )
    return existing, False


@dataclass
class ChunkAttemptSpec:
    index: int
    model_version: str | None = None
    frame_count: int | None = None
    audit_status: AuditStatus = AuditStatus.PENDING
    file: FileSpec | None = None


@dataclass
class ChunkColumns:
    """Chunk attempts as one list per column, entry n of each being attempt n's; a null
    `file.path` is an attempt without a file. `names` says how errors name a value: as
    in the list of objects the client sent (`chunks[3].frameCount`) or in its columns
    (`chunkColumns.frameCount[3]`)."""

    index: Sequence[int]
    model_version: Sequence[str | None]
    frame_count: Sequence[int | None]
    audit_status: Sequence[AuditStatus]
    file: FileColumns
    names: Names = field(default_factory=lambda: Names("chunks"))

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def of(cls, specs: Sequence[ChunkAttemptSpec], names: Names | None = None) -> ChunkColumns:
        """The columns of a list of attempts, named in errors as that list."""
        return cls(
            index=[spec.index for spec in specs],
            model_version=[spec.model_version for spec in specs],
            frame_count=[spec.frame_count for spec in specs],
            audit_status=[spec.audit_status for spec in specs],
            file=FileColumns.of([spec.file for spec in specs]),
            names=names or Names("chunks"),
        )


def check_chunks(
    chunks: ChunkColumns | Sequence[ChunkAttemptSpec],
) -> tuple[ChunkColumns, list[int]]:
    """The attempts as columns, once every value is one an attempt can have: an index and
    a frame count of 0 or more, a model version of 1 to 255 characters, files as
    `check_files` takes them; and the positions of the attempts that have a file. The
    first offending value is refused (BAD_USER_INPUT), named as the client sent it."""
    columns = chunks if isinstance(chunks, ChunkColumns) else ChunkColumns.of(chunks)
    names = columns.names
    for column, values in (("index", columns.index), ("frameCount", columns.frame_count)):
        given = [value for value in values if value is not None]
        if given and min(given) < 0:
            position = next(n for n, value in enumerate(values) if value is not None and value < 0)
            non_negative(values[position], names.value(position, column))
    if any(version is not None for version in columns.model_version):
        for position, version in enumerate(columns.model_version):
            if version is not None:
                checked_text(version, names.value(position, "modelVersion"), NAME_LENGTH)
    with_files = check_files(columns.file, names, optional=True)
    return columns, with_files


async def add_chunk_attempts(
    writer: Writer, trajectory_id: int, chunks: ChunkColumns | Sequence[ChunkAttemptSpec]
) -> list[models.Chunk]:
    """New attempts at chunks of a trajectory, each numbered after the last attempt at
    its chunk index (in the order given when one call has several for one index); their
    files and the attempts go in one INSERT each, whatever their number.

    The trajectory row is locked first, so allocators on one trajectory take turns; the
    lock is held until commit. Under READ COMMITTED each statement reads the data
    committed when it starts, so the max(attempt) query that follows the lock sees every
    attempt the previous holder committed: numbers are unique. A transaction that rolls
    back never made its attempts visible, so the next one takes the same numbers: no gaps.
    """
    columns, with_files = check_chunks(chunks)
    trajectory = await writer.lock(models.Trajectory, trajectory_id)
    if not columns:
        return []
    last_attempts = await writer.session.execute(
        select(models.Chunk.index, func.max(models.Chunk.attempt))
        .where(
            models.Chunk.trajectory_id == trajectory.id,
            models.Chunk.index == any_(literal(sorted(set(columns.index)), ARRAY(Integer))),
        )
        .group_by(models.Chunk.index)
    )
    last_attempt: dict[int, int] = {index: attempt for index, attempt in last_attempts}
    attempts = []
    for index in columns.index:
        last_attempt[index] = attempt = last_attempt.get(index, 0) + 1
        attempts.append(attempt)
    file_ids: list[int | None] = [None] * len(columns)
    for position, file_id in zip(
        with_files, await insert_files(writer, columns.file, with_files, None), strict=True
    ):
        file_ids[position] = file_id
    rows = (
        func.unnest(
            literal(list(columns.index), ARRAY(Integer)),
            literal(attempts, ARRAY(Integer)),
            literal(list(columns.model_version), ARRAY(String)),
            literal(list(columns.frame_count), ARRAY(Integer)),
            literal([status.value for status in columns.audit_status], ARRAY(String)),
            literal(file_ids, ARRAY(BigInteger)),
        )
        .table_valued(
            "index",
            "attempt",
            "model_version",
            "frame_count",
            "audit_status",
            "file_id",
            with_ordinality="n",
        )
        .render_derived()
    )
    inserted = await writer.session.scalars(
        insert(models.Chunk)
        .from_select(
            [
                "run_id",
                "trajectory_id",
                "index",
                "attempt",
                "model_version",
                "frame_count",
                "audit_status",
                "file_id",
            ],
            select(
                literal(trajectory.run_id, BigInteger),
                literal(trajectory.id, BigInteger),
                rows.c["index"],
                rows.c.attempt,
                rows.c.model_version,
                rows.c.frame_count,
                rows.c.audit_status,
                rows.c.file_id,
            ).order_by(rows.c.n),
        )
        .returning(models.Chunk),
        execution_options={"populate_existing": True},
    )
    # identities are taken in the order the rows are inserted: that of the arrays
    created = sorted(inserted, key=lambda chunk: chunk.id)
    paths = columns.file.path
    # Each attempt has its own audit lifecycle, so each gets its own "created" event.
    for position, chunk in enumerate(created):
        payload = snapshot(chunk)
        if paths[position] is not None:
            payload["file_path"] = paths[position]
        writer.event(chunk, "created", payload)
    return created


async def set_chunk_audit_status(
    writer: Writer, chunk_id: int, status: AuditStatus, *, expected_version: int | None = None
) -> models.Chunk:
    chunk = await writer.lock(models.Chunk, chunk_id)
    check_version(chunk, expected_version)
    set_audit_status(writer, chunk, status)
    return chunk
