"""Trajectories and their chunk attempts: start structures, attempt numbers, audits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from scimeta import models
from scimeta.errors import BadUserInput, Conflict
from scimeta.models import AuditStatus
from scimeta.writes.core import FileSpec
from scimeta.writes.lifecycle import set_audit_status
from scimeta.writes.runs import NAME_LENGTH, checked_text
from scimeta.writes.smiles import ELEMENTS
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

    def check(self, field: str) -> None:
        non_negative(self.index, f"{field}index")
        non_negative(self.frame_count, f"{field}frameCount")
        if self.model_version is not None:
            checked_text(self.model_version, f"{field}modelVersion", NAME_LENGTH)


async def add_chunk_attempts(
    writer: Writer,
    trajectory_id: int,
    specs: Sequence[ChunkAttemptSpec],
    *,
    list_field: str | None = "chunks",
) -> list[models.Chunk]:
    """New attempts at chunks of a trajectory, each numbered after the last attempt at
    its chunk index (in the order given when one call has several for one index).

    The trajectory row is locked first, so allocators on one trajectory take turns; the
    lock is held until commit. Under READ COMMITTED each statement reads the data
    committed when it starts, so the max(attempt) query that follows the lock sees every
    attempt the previous holder committed: numbers are unique. A transaction that rolls
    back never made its attempts visible, so the next one takes the same numbers: no gaps.
    """
    for position, spec in enumerate(specs):
        spec.check(f"{list_field}[{position}]." if list_field else "")
    trajectory = await writer.lock(models.Trajectory, trajectory_id)
    last_attempts = await writer.session.execute(
        select(models.Chunk.index, func.max(models.Chunk.attempt))
        .where(
            models.Chunk.trajectory_id == trajectory.id,
            models.Chunk.index.in_(sorted({spec.index for spec in specs})),
        )
        .group_by(models.Chunk.index)
    )
    last_attempt: dict[int, int] = {index: attempt for index, attempt in last_attempts}
    files = {
        position: spec.file.row() for position, spec in enumerate(specs) if spec.file is not None
    }
    writer.session.add_all(files.values())
    await writer.flush()
    chunks = []
    for position, spec in enumerate(specs):
        last_attempt[spec.index] = last_attempt.get(spec.index, 0) + 1
        file = files.get(position)
        chunks.append(
            models.Chunk(
                run_id=trajectory.run_id,
                trajectory_id=trajectory.id,
                index=spec.index,
                attempt=last_attempt[spec.index],
                model_version=spec.model_version,
                frame_count=spec.frame_count,
                audit_status=spec.audit_status,
                file_id=file.id if file is not None else None,
            )
        )
    writer.session.add_all(chunks)
    await writer.flush()
    # Each attempt has its own audit lifecycle, so each gets its own "created" event.
    for position, chunk in enumerate(chunks):
        payload = snapshot(chunk)
        if position in files:
            payload["file_path"] = files[position].path
        writer.event(chunk, "created", payload)
    return chunks


async def set_chunk_audit_status(
    writer: Writer, chunk_id: int, status: AuditStatus, *, expected_version: int | None = None
) -> models.Chunk:
    chunk = await writer.lock(models.Chunk, chunk_id)
    check_version(chunk, expected_version)
    set_audit_status(writer, chunk, status)
    return chunk
