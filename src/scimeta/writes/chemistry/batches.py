"""Batches of molecules to compute, and the status and calculation of each item (seed 002)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from scimeta import models
from scimeta.errors import BadUserInput, Conflict, NotFound
from scimeta.models import Status
from scimeta.writes.chemistry import DEFAULT_METHOD, NewMolecule, get_or_create_molecules
from scimeta.writes.lifecycle import set_status
from scimeta.writes.transaction import Writer, check_version, global_id, global_id_of


async def create_batch(
    writer: Writer,
    *,
    name: str,
    description: str | None = None,
    method: str = DEFAULT_METHOD,
    attributes: dict[str, Any] | None = None,
    molecule_ids: Sequence[int] = (),
    smiles: Sequence[str] = (),
) -> models.Batch:
    """A batch with one PENDING item per molecule: those given by id and those given by
    SMILES (created if new). A molecule given twice is one item."""
    if not name:
        raise BadUserInput("name must not be empty.", field="name")
    if not method:
        raise BadUserInput("method must not be empty.", field="method")
    members = await _molecule_ids(writer, molecule_ids, smiles)
    batch = models.Batch(
        name=name, description=description, method=method, attributes=attributes or {}
    )
    await writer.create(batch, items=len(members))
    await _insert_items(writer, batch.id, members)
    return batch


async def add_batch_items(
    writer: Writer, batch_id: int, molecule_ids: Sequence[int] = (), smiles: Sequence[str] = ()
) -> tuple[models.Batch, list[models.BatchItem], int]:
    """The batch's items for the molecules given, in input order, adding those it lacks;
    and how many were added."""
    batch = await writer.lock(models.Batch, batch_id)
    if batch.status == Status.SUCCEEDED:
        raise Conflict(
            f"Batch {global_id(batch)} has SUCCEEDED, which is final; put the molecules in a "
            "new batch.",
            reason="ILLEGAL_TRANSITION",
            current=batch.status.value,
        )
    members = await _molecule_ids(writer, molecule_ids, smiles)
    added = await _insert_items(writer, batch.id, members)
    if added:
        writer.event(batch, "items_added", {"count": added})
    found = await writer.session.execute(
        select(models.BatchItem).where(
            models.BatchItem.batch_id == batch.id,
            models.BatchItem.molecule_id == any_(_id_array(members)),
        )
    )
    by_molecule = {item.molecule_id: item for item in found.scalars()}
    return batch, [by_molecule[molecule_id] for molecule_id in members], added


async def _molecule_ids(
    writer: Writer, molecule_ids: Sequence[int], smiles: Sequence[str]
) -> list[int]:
    """The molecules' ids without repeats, those given by id first; every id must exist."""
    wanted = set(molecule_ids)
    if wanted:
        found = await writer.session.execute(
            select(models.Molecule.id).where(models.Molecule.id == any_(_id_array(wanted)))
        )
        missing = wanted - set(found.scalars())
        if missing:
            first = next(m for m in molecule_ids if m in missing)
            raise NotFound(
                f"moleculeIds: no Molecule has the id {global_id_of('Molecule', first)}; it "
                "may have been deleted.",
                field="moleculeIds",
            )
    created = await get_or_create_molecules(
        writer, [NewMolecule(smiles=text) for text in smiles], field="smiles[{}]"
    )
    return list(dict.fromkeys([*molecule_ids, *(molecule.id for molecule, _ in created)]))


def _id_array(ids: Collection[int]) -> ColumnElement[Any]:
    """Ids as one `bigint[]` parameter: one statement text, whatever their number."""
    return literal(list(ids), ARRAY(BigInteger))


async def _insert_items(writer: Writer, batch_id: int, molecule_ids: Sequence[int]) -> int:
    """Insert the PENDING items the batch lacks, in one statement; how many it inserted."""
    if not molecule_ids:
        return 0
    statement = (
        insert(models.BatchItem)
        .from_select(
            ["batch_id", "molecule_id"],
            select(
                literal(batch_id, BigInteger),
                func.unnest(_id_array(molecule_ids)),
            ),
        )
        .on_conflict_do_nothing(index_elements=["batch_id", "molecule_id"])
        .returning(models.BatchItem.id)
    )
    return len((await writer.session.execute(statement)).all())


async def set_batch_status(
    writer: Writer, batch_id: int, status: Status, *, expected_version: int | None = None
) -> models.Batch:
    batch = await writer.lock(models.Batch, batch_id)
    check_version(batch, expected_version)
    await set_status(writer, batch, status)
    return batch


async def set_batch_item_status(
    writer: Writer,
    item_id: int,
    status: Status,
    *,
    calculation_id: int | None = None,
    expected_version: int | None = None,
) -> models.BatchItem:
    """Move an item through the status lifecycle and, once computed, link its calculation,
    which must be of the item's molecule."""
    item = await writer.lock(models.BatchItem, item_id)
    check_version(item, expected_version)
    linked: dict[str, Any] = {}
    if calculation_id is not None and calculation_id != item.calculation_id:
        calculation = await writer.get(models.Calculation, calculation_id)
        if calculation.molecule_id != item.molecule_id:
            raise BadUserInput(
                f"Calculation {global_id(calculation)} is of the molecule "
                f"{global_id_of('Molecule', calculation.molecule_id)}, but batch item "
                f"{global_id(item)} is for the molecule "
                f"{global_id_of('Molecule', item.molecule_id)}.",
                field="calculationId",
            )
        linked["calculation_id"] = global_id(calculation)
    moved = await set_status(writer, item, status, finished_attribute=None, payload=linked)
    if linked:
        item.calculation_id = calculation_id
        if not moved:
            writer.event(item, "updated", {"fields": ["calculation_id"], **linked})
    await writer.flush()
    return item
