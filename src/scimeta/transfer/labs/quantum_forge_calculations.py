"""The calculations of a Quantum Forge store with their atoms and result files, in steps
of about ATOM_ROWS atoms: a calculation is told apart by (molecule, method, created_at),
a file by (path, sha256)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scimeta.errors import BadUserInput
from scimeta.models import Status
from scimeta.transfer.labs.quantum_forge_atoms import AtomImport
from scimeta.transfer.labs.quantum_forge_files import (
    STRUCTURE_FILE,
    ResultFile,
    job_directory,
    result_files,
)
from scimeta.transfer.labs.quantum_forge_rows import (
    Refused,
    iso,
    json_of,
    number_of,
    present,
    text_of,
    time_of,
)
from scimeta.transfer.labs.quantum_forge_run import ImportRun, event
from scimeta.transfer.labs.quantum_forge_sql import INSERT_CALCULATIONS, INSERT_FILES
from scimeta.transfer.sources import Refusal
from scimeta.writes.chemistry import DEFAULT_METHOD, Results
from scimeta.writes.transaction import global_id_of

# atoms per transaction of calculations (and calculations at most per transaction)
ATOM_ROWS = 25_000
CALCULATIONS_PER_STEP = 5_000
_METHOD_LENGTH = 64

CALCULATION_STATUS = {
    "converged": Status.SUCCEEDED,
    "not_converged": Status.FAILED,
    "error": Status.FAILED,
}
_CALCULATION_EXTRAS = (
    "homo",
    "lumo",
    "total_charge",
    "xtb_version",
    "solvation",
    "xyz_file_hash",
    "output_json_path",
    "user_id",
)


@dataclass
class Calculation:
    source_id: int
    molecule_id: int
    method: str
    status: Status
    results: Results
    error: str | None
    created_at: datetime
    attributes: dict[str, Any]
    files: list[ResultFile] = field(default_factory=list)


async def import_calculations(run: ImportRun) -> None:
    rows = await run.store.rows("calculations")
    atom_counts = await run.store.atom_counts()
    counts = run.report.of("Calculation")
    taken: list[Calculation] = []
    keys: dict[tuple[int, str, datetime], int] = {}
    for row in rows:
        counts.read += 1
        try:
            calculation = _calculation(run, row)
            key = (calculation.molecule_id, calculation.method, calculation.created_at)
            if key in keys:
                raise Refused(
                    f"calculation {keys[key]} has the same molecule, method and created_at; "
                    "scimeta tells calculations apart by these three"
                )
            keys[key] = calculation.source_id
            taken.append(calculation)
        except Refused as exc:
            run.refuse("Calculation", "calculations", row["id"], str(exc))
    _find_files(run, taken)
    atoms = AtomImport(
        run.report,
        run.ids.setdefault("calculations", {}),
        run.refused.setdefault("calculations", set()),
        run.store.typed,
        run.driver,
    )
    total = sum(atom_counts.values())
    run.progress.begin("Calculation+AtomicProperty", len(taken) + total)
    # Contiguous ranges of calculation ids, so that every atom row is read once: also
    # those of calculations refused or missing, which are refused with a reason.
    low = -(2**63)
    steps = list(_steps(taken, atom_counts)) or [[]]
    for number, chunk in enumerate(steps):
        high = chunk[-1].source_id if chunk and number < len(steps) - 1 else 2**63 - 1
        async with run.step() as writer:
            await _insert_files(run, chunk)
            created = await _insert_calculations(run, chunk)
            added = await atoms.insert(await run.store.atoms(low, high))
            for calculation in chunk:
                calculation_id = run.ids["calculations"][calculation.source_id]
                count = added.get(calculation_id, 0)
                if calculation_id in created:
                    writer.record(
                        event(
                            "Calculation",
                            calculation_id,
                            "created",
                            _snapshot(calculation_id, calculation) | {"atomic_properties": count},
                        )
                    )
                elif count:
                    writer.record(
                        event(
                            "Calculation",
                            calculation_id,
                            "atomic_properties_added",
                            {"count": count},
                        )
                    )
        low = high + 1
        run.progress.advance(len(chunk) + sum(added.values()))
    run.progress.end()


def _calculation(run: ImportRun, row: dict[str, Any]) -> Calculation:
    molecule_id = run.reference("molecules", row.get("molecule_id"), "molecule")
    word = row.get("convergence_status")
    status = CALCULATION_STATUS.get(str(word).strip().lower()) if word is not None else None
    if status is None:
        raise Refused(
            f"its convergence_status {word!r} is not one of {', '.join(CALCULATION_STATUS)}"
        )
    method = row.get("method") or DEFAULT_METHOD
    if not isinstance(method, str) or len(method) > _METHOD_LENGTH:
        raise Refused(f"its method {method!r} is not a name of up to {_METHOD_LENGTH} characters")
    if row.get("energy") is None:
        raise Refused("it has no energy (the store requires one)")
    try:
        results = Results(
            energy=number_of(row, "energy"),
            gap=number_of(row, "gap"),
            dipole=number_of(row, "dipole"),
            execution_seconds=number_of(row, "execution_time_seconds"),
        )
    except BadUserInput as exc:
        raise Refused(exc.message) from exc
    created_at = time_of(row, "created_at")
    if created_at is None:
        raise Refused(
            "it has no created_at, which scimeta needs to tell it from other calculations "
            "of the molecule"
        )
    metadata = json_of(row, "metadata")
    attributes = {key: row[key] for key in _CALCULATION_EXTRAS if row.get(key) is not None}
    if metadata:
        attributes["metadata"] = metadata
    attributes["source_id"] = row["id"]
    error = None
    if status is Status.FAILED:
        given = metadata.get("error") if isinstance(metadata, dict) else None
        error = given if isinstance(given, str) else f"xTB convergence_status: {word}"
    return Calculation(
        source_id=row["id"],
        molecule_id=molecule_id,
        method=method,
        status=status,
        results=results,
        error=error,
        created_at=created_at,
        attributes=attributes,
    )


def _steps(
    calculations: Sequence[Calculation], atom_counts: dict[int, int]
) -> Iterator[list[Calculation]]:
    """The calculations in ranges of about ATOM_ROWS atoms, by source id."""
    chunk: list[Calculation] = []
    atoms = 0
    for calculation in sorted(calculations, key=lambda c: c.source_id):
        chunk.append(calculation)
        atoms += atom_counts.get(calculation.source_id, 0)
        if atoms >= ATOM_ROWS or len(chunk) >= CALCULATIONS_PER_STEP:
            yield chunk
            chunk, atoms = [], 0
    if chunk:
        yield chunk


def _find_files(run: ImportRun, calculations: Sequence[Calculation]) -> None:
    """The files of each calculation's job directory, found and hashed up front."""
    located = [c for c in calculations if isinstance(c.attributes.get("output_json_path"), str)]
    counts = run.report.of("File")
    run.progress.begin("File", None)
    for calculation in located:
        recorded = calculation.attributes["output_json_path"]
        directory = job_directory(recorded, run.roots)
        if directory is None:
            continue
        expected = calculation.attributes.get("xyz_file_hash")
        for found in result_files(directory, recorded):
            counts.read += 1
            if found.name == STRUCTURE_FILE and expected and found.sha256 != expected:
                run.report.refuse(
                    Refusal(
                        "File",
                        found.path,
                        text_of(calculation.source_id),
                        f"its sha256 {found.sha256} is not the xyz_file_hash {expected} "
                        f"of calculation {calculation.source_id}: the structure changed "
                        "since it was computed",
                    )
                )
                continue
            calculation.files.append(found)
        run.progress.advance(len(calculation.files))
    run.progress.end()


async def _insert_files(run: ImportRun, chunk: Sequence[Calculation]) -> None:
    unique: dict[tuple[str, str], ResultFile] = {}
    for calculation in chunk:
        for found in calculation.files:
            unique.setdefault((found.path, found.sha256), found)
    if not unique:
        return
    files = list(unique.values())
    driver = await run.driver()
    rows = await driver.fetch(
        INSERT_FILES,
        [f.path for f in files],
        [f.name for f in files],
        [f.size_bytes for f in files],
        [f.sha256 for f in files],
        [f.modified_at for f in files],
        [f.recorded for f in files],
    )
    counts = run.report.of("File")
    ids = {}
    for found, (file_id, created) in zip(files, rows, strict=True):
        ids[(found.path, found.sha256)] = file_id
        if created:
            counts.created += 1
        else:
            counts.present += 1
    for calculation in chunk:
        if calculation.files:
            calculation.attributes["files"] = [
                {
                    "id": global_id_of("File", ids[(f.path, f.sha256)]),
                    "name": f.name,
                    "size_bytes": f.size_bytes,
                    "sha256": f.sha256,
                }
                for f in calculation.files
            ]


async def _insert_calculations(run: ImportRun, chunk: Sequence[Calculation]) -> set[int]:
    """Insert the calculations not stored yet; the ids of those it inserted."""
    if not chunk:
        return set()
    driver = await run.driver()
    rows = await driver.fetch(
        INSERT_CALCULATIONS,
        [c.molecule_id for c in chunk],
        [c.method for c in chunk],
        [c.status.value for c in chunk],
        [c.results.energy for c in chunk],
        [c.results.gap for c in chunk],
        [c.results.dipole for c in chunk],
        [c.results.execution_seconds for c in chunk],
        [c.error for c in chunk],
        [json.dumps(c.attributes, default=str) for c in chunk],
        [c.created_at for c in chunk],
    )
    counts = run.report.of("Calculation")
    ids = run.ids.setdefault("calculations", {})
    created = set()
    for calculation, (calculation_id, inserted) in zip(chunk, rows, strict=True):
        ids[calculation.source_id] = calculation_id
        run.calculation_molecule[calculation_id] = calculation.molecule_id
        if inserted:
            created.add(calculation_id)
            counts.created += 1
        else:
            counts.present += 1
    return created


def _snapshot(calculation_id: int, calculation: Calculation) -> dict[str, Any]:
    return present(
        {
            "id": calculation_id,
            "molecule_id": calculation.molecule_id,
            "method": calculation.method,
            "status": calculation.status.value,
            **calculation.results.given(),
            "finished_at": iso(calculation.created_at),
        }
    )
