"""Molecules by canonical SMILES, and calculations with their atomic properties (seed 002).

The chemistry domain's other writes are its modules: `batches` (batches of molecules to
compute) and `smiles` (a molecule's canonical SMILES and formula, through RDKit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    Text,
    any_,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert

from scimeta import models
from scimeta.errors import BadUserInput, Conflict
from scimeta.models import Status
from scimeta.writes.chemistry.smiles import ELEMENTS, structure
from scimeta.writes.columns import Names
from scimeta.writes.lifecycle import FINISHED, set_status
from scimeta.writes.transaction import Writer, check_version, global_id, snapshot

DEFAULT_METHOD = "GFN2-xTB"
# How many offending atom indexes an error lists before it says "and N more".
_LISTED = 10


@dataclass
class NewMolecule:
    smiles: str
    name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class MoleculeColumns:
    """Molecules as one list per column, entry n of each being molecule n's; attributes
    are each a JSON object or None (none), checked by `get_or_create_molecules`. `names`
    says how errors name a value: as in the list of objects the client sent
    (`molecules[3].smiles`) or in its columns (`moleculeColumns.smiles[3]`)."""

    smiles: Sequence[str]
    name: Sequence[str | None]
    attributes: Sequence[Any]
    names: Names = field(default_factory=lambda: Names("molecules"))

    def __len__(self) -> int:
        return len(self.smiles)


def check_molecules(molecules: MoleculeColumns) -> list[NewMolecule]:
    """The molecules, once every attributes value is a JSON object or null."""
    names = molecules.names
    for position, attributes in enumerate(molecules.attributes):
        if attributes is not None and type(attributes) is not dict:
            raise BadUserInput(
                f"{names.value(position, 'attributes')} must be a JSON object ({{...}}), not "
                f"{type(attributes).__name__}.",
                field=names.value(position, "attributes"),
            )
    return [
        NewMolecule(smiles=smiles, name=name, attributes=attributes or {})
        for smiles, name, attributes in zip(
            molecules.smiles, molecules.name, molecules.attributes, strict=True
        )
    ]


async def get_or_create_molecules(
    writer: Writer,
    molecules: MoleculeColumns | Sequence[NewMolecule],
    *,
    field: str = "molecules[{}].smiles",
) -> list[tuple[models.Molecule, bool]]:
    """Each molecule by its canonical SMILES, created if no molecule has it yet, in input
    order, with True where this call created it. A molecule that exists keeps its name and
    attributes; of several inputs with one structure the first creates it. `field` names
    the SMILES of the n-th input of a list in errors ("{}" stands for n); columns name it
    by their `names`.

    INSERT ... ON CONFLICT DO NOTHING makes this safe under concurrency: a second writer of
    the same SMILES waits for the first to commit, then skips the row and reads it.
    """
    if isinstance(molecules, MoleculeColumns):
        names = molecules.names
        molecules = check_molecules(molecules)
        structures = [
            structure(m.smiles, names.value(n, "smiles")) for n, m in enumerate(molecules)
        ]
    else:
        structures = [structure(m.smiles, field.format(n)) for n, m in enumerate(molecules)]
    first: dict[str, int] = {}
    for position, parsed in enumerate(structures):
        first.setdefault(parsed.smiles, position)
    if not first:
        return []
    # In SMILES order, so that writers of overlapping sets wait on each other in one order
    # instead of deadlocking.
    rows = [
        {
            "smiles": smiles,
            "name": molecules[position].name,
            "formula": structures[position].formula,
            "attributes": molecules[position].attributes,
        }
        for smiles, position in sorted(first.items())
    ]
    inserted = await writer.session.execute(
        insert(models.Molecule)
        .on_conflict_do_nothing(index_elements=[models.Molecule.smiles])
        .returning(models.Molecule.id),
        rows,
        # every row names every column, so that one statement takes them all
        execution_options={"render_nulls": True},
    )
    created_ids = set(inserted.scalars())
    found = await writer.session.execute(
        select(models.Molecule).where(
            models.Molecule.smiles == any_(literal(list(first), ARRAY(Text)))
        )
    )
    by_smiles = {molecule.smiles: molecule for molecule in found.scalars()}
    for molecule in by_smiles.values():
        if molecule.id in created_ids:
            writer.event(molecule, "created", snapshot(molecule))
    return [
        (
            by_smiles[parsed.smiles],
            first[parsed.smiles] == position and by_smiles[parsed.smiles].id in created_ids,
        )
        for position, parsed in enumerate(structures)
    ]


@dataclass
class Results:
    """What a calculation computed; None leaves a value as it is. A gap, a dipole and a
    wall time are never negative."""

    energy: float | None = None
    gap: float | None = None
    dipole: float | None = None
    execution_seconds: float | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        for value, name in (
            (self.gap, "gap"),
            (self.dipole, "dipole"),
            (self.execution_seconds, "executionSeconds"),
        ):
            if value is not None and value < 0:
                raise BadUserInput(f"{name} cannot be negative (got {value}).", field=name)

    def given(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass
class Atom:
    """Per-atom results: the atom's index in the structure (from 0) and its element."""

    index: int
    element: str
    charge: float | None = None
    values: dict[str, Any] | None = field(default_factory=dict)


@dataclass
class AtomColumns:
    """Atoms as one list per column: the arrays `insert_atoms` sends, reached without a
    Python object per atom. `values` holds each atom's further values, a JSON object or
    None (none). `names` says how errors name a value: as in the list of objects the
    client sent (`atomicProperties[3].atomIndex`) or in its columns
    (`atomicPropertyColumns.atomIndex[3]`)."""

    index: Sequence[int]
    element: Sequence[str]
    charge: Sequence[float | None]
    values: Sequence[Any]
    names: Names = field(default_factory=lambda: Names("atomicProperties"))

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def of(cls, atoms: Sequence[Atom], names: Names | None = None) -> AtomColumns:
        """The columns of a list of atoms, named in errors as that list."""
        return cls(
            index=[atom.index for atom in atoms],
            element=[atom.element for atom in atoms],
            charge=[atom.charge for atom in atoms],
            values=[atom.values for atom in atoms],
            names=names or Names("atomicProperties"),
        )


def check_atoms(atoms: AtomColumns | Sequence[Atom]) -> AtomColumns:
    """The atoms as columns, once every value is one an atom can have: an index from 0,
    each index once, an element symbol, values a JSON object. The first offending row is
    refused (BAD_USER_INPUT) with its position, in the form the client sent it.

    Whole columns are checked first at C speed (a set, `min`, a subset test), and only a
    column that fails is walked to find its first offending row."""
    columns = atoms if isinstance(atoms, AtomColumns) else AtomColumns.of(atoms)
    names = columns.names
    index = columns.index
    if index and (min(index) < 0 or len(set(index)) != len(index)):
        seen: set[int] = set()
        for position, atom_index in enumerate(index):
            if atom_index < 0:
                raise BadUserInput(
                    f"{names.value(position, 'atomIndex')} is {atom_index}; atoms count from 0.",
                    field=names.field(position, "atomIndex"),
                )
            if atom_index in seen:
                raise BadUserInput(
                    f"{names.value(position, 'atomIndex')} {atom_index} is given twice; each "
                    "atom has one entry.",
                    field=names.field(position, "atomIndex"),
                )
            seen.add(atom_index)
    if not ELEMENTS.issuperset(columns.element):
        for position, element in enumerate(columns.element):
            if element not in ELEMENTS:
                raise BadUserInput(
                    f"{names.value(position, 'element')} {element!r} is not an element symbol "
                    "(such as C, H, Cl or Fe, capitalised as in the periodic table).",
                    field=names.field(position, "element"),
                )
    for position, values in enumerate(columns.values):
        if values is not None and type(values) is not dict:
            raise BadUserInput(
                f"{names.value(position, 'values')} must be a JSON object ({{...}}), not "
                f"{type(values).__name__}.",
                field=names.value(position, "values"),
            )
    return columns


async def create_calculation(
    writer: Writer,
    *,
    molecule_id: int,
    method: str = DEFAULT_METHOD,
    status: Status = Status.PENDING,
    results: Results | None = None,
    attributes: dict[str, Any] | None = None,
    atoms: AtomColumns | Sequence[Atom] = (),
) -> models.Calculation:
    """A calculation of a molecule with its atomic properties, in one transaction. One
    created, started or finished already has the times of now, as a status change would."""
    if not method:
        raise BadUserInput("method must not be empty.", field="method")
    values = (results or Results()).given()
    columns = check_atoms(atoms)
    molecule = await writer.get(models.Molecule, molecule_id)
    now = None if status == Status.PENDING else await writer.now()
    calculation = models.Calculation(
        molecule_id=molecule.id,
        method=method,
        status=status,
        started_at=now if status == Status.RUNNING else None,
        finished_at=now if status in FINISHED else None,
        attributes=attributes or {},
        **values,
    )
    await writer.create(calculation, atomic_properties=len(columns))
    await insert_atoms(writer, calculation.id, columns)
    return calculation


async def add_atomic_properties(
    writer: Writer, calculation_id: int, atoms: AtomColumns | Sequence[Atom]
) -> models.Calculation:
    """Add atoms to a calculation; an atom index it already has is refused."""
    columns = check_atoms(atoms)
    # Locked, so that two calls adding atoms to one calculation check and insert in turn.
    calculation = await writer.lock(models.Calculation, calculation_id)
    if not columns:
        return calculation
    taken = await writer.session.execute(
        select(models.AtomicProperty.atom_index)
        .where(
            models.AtomicProperty.calculation_id == calculation.id,
            models.AtomicProperty.atom_index == any_(literal(list(columns.index), ARRAY(Integer))),
        )
        .order_by(models.AtomicProperty.atom_index)
    )
    existing = list(taken.scalars())
    if existing:
        listed = ", ".join(map(str, existing[:_LISTED]))
        more = f" and {len(existing) - _LISTED} more" if len(existing) > _LISTED else ""
        raise Conflict(
            f"Calculation {global_id(calculation)} already has atom index {listed}{more}; "
            "an atom's properties are recorded once.",
            reason="ALREADY_EXISTS",
            atomIndexes=existing,
        )
    await insert_atoms(writer, calculation.id, columns)
    writer.event(calculation, "atomic_properties_added", {"count": len(columns)})
    return calculation


async def insert_atoms(writer: Writer, calculation_id: int, atoms: AtomColumns) -> None:
    """One INSERT ... SELECT FROM unnest(arrays): one statement and one round trip for any
    number of atoms, each column sent as one binary array."""
    if not atoms:
        return
    encode = json.dumps
    rows = (
        func.unnest(
            literal(atoms.index, ARRAY(Integer)),
            literal(atoms.element, ARRAY(String)),
            literal(atoms.charge, ARRAY(Float)),
            literal(
                ["{}" if not values else encode(values) for values in atoms.values], ARRAY(Text)
            ),
        )
        .table_valued("atom_index", "element", "charge", "values")
        .render_derived()
    )
    await writer.session.execute(
        insert(models.AtomicProperty).from_select(
            ["calculation_id", "atom_index", "element", "charge", "values"],
            select(
                literal(calculation_id, BigInteger),
                rows.c.atom_index,
                rows.c.element,
                rows.c.charge,
                cast(rows.c["values"], JSONB),
            ),
        )
    )


async def set_calculation_status(
    writer: Writer,
    calculation_id: int,
    status: Status,
    results: Results | None = None,
    *,
    expected_version: int | None = None,
) -> models.Calculation:
    """Move a calculation through its lifecycle, recording the results that come with the
    move (an energy on success, an error on failure) in the same status_changed event."""
    values = (results or Results()).given()
    calculation = await writer.lock(models.Calculation, calculation_id)
    check_version(calculation, expected_version)
    moved = await set_status(writer, calculation, status, payload=values)
    changed = sorted(name for name, value in values.items() if getattr(calculation, name) != value)
    for name, value in values.items():
        setattr(calculation, name, value)
    if changed and not moved:
        writer.event(calculation, "updated", {"fields": changed})
    await writer.flush()
    return calculation
