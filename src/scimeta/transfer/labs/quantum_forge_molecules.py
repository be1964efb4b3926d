"""The molecules of a Quantum Forge store, taken by canonical SMILES: two source molecules
of one structure become one scimeta molecule."""

from __future__ import annotations

from typing import Any

from scimeta.errors import BadUserInput
from scimeta.transfer.labs.quantum_forge_rows import NAME_LENGTH, Refused, json_of
from scimeta.transfer.labs.quantum_forge_run import ImportRun
from scimeta.writes.chemistry import NewMolecule, get_or_create_molecules
from scimeta.writes.chemistry.smiles import structure


async def import_molecules(run: ImportRun) -> None:
    rows = await run.store.rows("molecules")
    counts = run.report.of("Molecule")
    run.progress.begin("Molecule", len(rows))
    taken: list[tuple[int, NewMolecule]] = []
    for row in rows:
        counts.read += 1
        try:
            taken.append((row["id"], _molecule(row)))
        except Refused as exc:
            run.refuse("Molecule", "molecules", row["id"], str(exc))
    async with run.step() as writer:
        made = await get_or_create_molecules(writer, [molecule for _, molecule in taken])
    ids = run.ids.setdefault("molecules", {})
    for (source_id, _), (molecule, created) in zip(taken, made, strict=True):
        ids[source_id] = molecule.id
        if created:
            counts.created += 1
        else:
            counts.present += 1
    run.progress.advance(len(rows))
    run.progress.end()


def _molecule(row: dict[str, Any]) -> NewMolecule:
    smiles = row.get("smiles")
    if not isinstance(smiles, str) or not smiles.strip():
        raise Refused("it has no SMILES")
    try:
        parsed = structure(smiles.strip())
    except BadUserInput as exc:
        raise Refused(exc.message) from exc
    name = row.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > NAME_LENGTH):
        raise Refused(f"its name is not text of up to {NAME_LENGTH} characters")
    attributes: dict[str, Any] = {"source_id": row["id"]}
    metadata = json_of(row, "metadata")
    if metadata:
        attributes["metadata"] = metadata
    if row.get("user_id") is not None:
        attributes["user_id"] = row["user_id"]
    if row.get("formula") and row["formula"] != parsed.formula:
        attributes["formula"] = row["formula"]
    return NewMolecule(smiles=parsed.smiles, name=name, attributes=attributes)
