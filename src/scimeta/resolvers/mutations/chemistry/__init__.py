"""Mutations of molecules and calculations (seed 002): canonical molecules, calculations
with their atomic properties in one call, and the calculation lifecycle.

Its module `batches` holds the mutations of batches of molecules.
"""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.resolvers.mutations.base import (
    MAX_BULK_ROWS,
    WriteInfo,
    capped,
    json_object,
    replayed,
    row_id,
    update_node,
    write,
)
from scimeta.schema.chemistry import Calculation, Molecule
from scimeta.schema.enums import Status
from scimeta.writes import chemistry as writes
from scimeta.writes.columns import Names, check_columns, nulls

MAX_MOLECULES = 1_000


@strawberry.input(description="A molecule by its structure.")
class CreateMoleculeInput:
    smiles: str = strawberry.field(
        description="SMILES in any valid form; the server stores RDKit's canonical form."
    )
    name: str | None = strawberry.field(default=None, description="Common name.")
    attributes: JSON | None = strawberry.field(default=None, description="Lab-specific fields.")

    def spec(self, field: str) -> writes.NewMolecule:
        return writes.NewMolecule(
            smiles=self.smiles,
            name=self.name,
            attributes=json_object(self.attributes, f"{field}.attributes"),
        )


@strawberry.type(description="The molecule with the structure given, and whether it is new.")
class CreateMoleculePayload:
    molecule: Molecule = strawberry.field(description="The molecule with that structure.")
    created: bool = strawberry.field(
        description="True if this call created the molecule; false if it existed (it is "
        "returned unchanged) or an earlier entry of the same call created it."
    )


@strawberry.input(
    description="Molecules as one list per column, entry n of each being molecule n's: the "
    "same molecules as a list of CreateMoleculeInput, checked by the same rules. Errors "
    "name a value by its column and position, as moleculeColumns.smiles[3]."
)
class CreateMoleculeColumnsInput:
    smiles: list[str] = strawberry.field(
        description="SMILES in any valid form; its length is the number of molecules (at "
        f"most {MAX_MOLECULES})."
    )
    name: list[str | None] | None = strawberry.field(
        default=None, description="Common names; left out, null for all."
    )
    attributes: list[JSON | None] | None = strawberry.field(
        default=None, description="Lab-specific fields, each a JSON object or null."
    )


@strawberry.input(description="Molecules to get or create, in one transaction.")
class CreateMoleculesInput:
    molecules: list[CreateMoleculeInput] | None = strawberry.field(
        default=None, description=f"At most {MAX_MOLECULES} molecules."
    )
    molecule_columns: CreateMoleculeColumnsInput | None = strawberry.field(
        default=None, description="The same molecules as columns, instead of molecules."
    )


def _molecules(
    molecules: list[CreateMoleculeInput] | None, columns: CreateMoleculeColumnsInput | None
) -> writes.MoleculeColumns:
    """The molecules of either form as columns, checked for the cap and, as columns, for
    their lengths; the write function checks their values."""
    if columns is None:
        if molecules is None:
            raise BadUserInput(
                "Give the molecules as molecules or as moleculeColumns.", field="molecules"
            )
        capped(molecules, "molecules", MAX_MOLECULES)
        return writes.MoleculeColumns(
            smiles=[molecule.smiles for molecule in molecules],
            name=[molecule.name for molecule in molecules],
            attributes=[molecule.attributes for molecule in molecules],
        )
    if molecules is not None:
        raise BadUserInput(
            "Give the molecules as molecules or as moleculeColumns, not both.", field="molecules"
        )
    names = Names("moleculeColumns", columnar=True)
    rows = check_columns(
        names,
        MAX_MOLECULES,
        "smiles",
        {"smiles": columns.smiles, "name": columns.name, "attributes": columns.attributes},
    )
    return writes.MoleculeColumns(
        smiles=columns.smiles,
        name=nulls(columns.name, rows),
        attributes=nulls(columns.attributes, rows),
        names=names,
    )


@strawberry.type(description="One result per input molecule, in input order.")
class CreateMoleculesPayload:
    molecules: list[CreateMoleculePayload] = strawberry.field(
        description="Each input's molecule and whether this call created it."
    )


@strawberry.input(description="Changes to a molecule; fields left out keep their value.")
class UpdateMoleculeInput:
    id: relay.GlobalID = strawberry.field(description="The molecule.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Common name.")
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Lab-specific fields (replaces them all)."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the molecule changed."
    )


@strawberry.type(description="The molecule.")
class MoleculePayload:
    molecule: Molecule = strawberry.field(description="The molecule as it is now.")


@strawberry.input(description="Per-atom results of a calculation.")
class AtomicPropertyInput:
    atom_index: int = strawberry.field(
        description="The atom's index in the structure, from 0; unique in a calculation."
    )
    element: str = strawberry.field(description="Element symbol, e.g. C, H, Cl.")
    charge: float | None = strawberry.field(default=None, description="Partial charge.")
    values: JSON | None = strawberry.field(
        default=None, description="Further per-atom values: a JSON object."
    )


@strawberry.input(
    description="Per-atom results as one list per column, entry n of each being atom n's: "
    "the same rows as a list of AtomicPropertyInput, checked by the same rules, for less "
    "work per atom on the server and a smaller request. Errors name a value by its column "
    "and position, as atomicPropertyColumns.element[3]."
)
class AtomicPropertyColumnsInput:
    atom_index: list[int] = strawberry.field(
        description=f"Each atom's index in the structure, from 0; unique in a calculation. "
        f"Its length is the number of atoms (at most {MAX_BULK_ROWS})."
    )
    element: list[str] = strawberry.field(description="Element symbols, e.g. C, H, Cl.")
    charge: list[float | None] | None = strawberry.field(
        default=None, description="Partial charges; left out, every atom's is null."
    )
    values: list[JSON | None] | None = strawberry.field(
        default=None,
        description="Further per-atom values, each a JSON object or null; left out, none.",
    )


def _atoms(
    atoms: list[AtomicPropertyInput],
    columns: AtomicPropertyColumnsInput | None,
    field: str = "atomicProperties",
) -> writes.AtomColumns:
    """The atoms of either form as columns, checked for the cap and, as columns, for
    their lengths; the write function checks their values."""
    if columns is None:
        capped(atoms, field)
        return writes.AtomColumns(
            index=[atom.atom_index for atom in atoms],
            element=[atom.element for atom in atoms],
            charge=[atom.charge for atom in atoms],
            values=[atom.values for atom in atoms],
            names=Names(field),
        )
    if atoms:
        raise BadUserInput(
            f"Give the atoms as {field} or as atomicPropertyColumns, not both.",
            field=field,
        )
    names = Names("atomicPropertyColumns", columnar=True)
    rows = check_columns(
        names,
        MAX_BULK_ROWS,
        "atomIndex",
        {
            "atomIndex": columns.atom_index,
            "element": columns.element,
            "charge": columns.charge,
            "values": columns.values,
        },
    )
    return writes.AtomColumns(
        index=columns.atom_index,
        element=columns.element,
        charge=nulls(columns.charge, rows),
        values=nulls(columns.values, rows),
        names=names,
    )


@strawberry.input(description="A calculation of a molecule, with its atomic properties.")
class CreateCalculationInput:
    molecule_id: relay.GlobalID = strawberry.field(description="The molecule computed.")
    method: str = strawberry.field(default=writes.DEFAULT_METHOD, description="The method.")
    status: Status = strawberry.field(
        default=Status.PENDING,
        description="Its status now; a calculation created SUCCEEDED or FAILED gets finishedAt "
        "(RUNNING: startedAt) from the server's clock.",
    )
    energy: float | None = strawberry.field(default=None, description="Total energy (Hartree).")
    gap: float | None = strawberry.field(default=None, description="HOMO-LUMO gap (eV), >= 0.")
    dipole: float | None = strawberry.field(default=None, description="Dipole (Debye), >= 0.")
    execution_seconds: float | None = strawberry.field(
        default=None, description="Wall time in seconds, >= 0."
    )
    error: str | None = strawberry.field(default=None, description="Why it failed.")
    attributes: JSON | None = strawberry.field(default=None, description="Lab-specific fields.")
    atomic_properties: list[AtomicPropertyInput] = strawberry.field(
        default_factory=list,
        description=f"Per-atom results (at most {MAX_BULK_ROWS}), atom indexes unique.",
    )
    atomic_property_columns: AtomicPropertyColumnsInput | None = strawberry.field(
        default=None,
        description="The same per-atom results as columns, instead of atomicProperties.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first call's calculation and "
        "creates none.",
    )


@strawberry.type(description="The calculation, and whether an earlier call with the key made it.")
class CreateCalculationPayload:
    calculation: Calculation = strawberry.field(description="The calculation.")
    replayed: bool = strawberry.field(
        description="True if the idempotency key matched an earlier call: nothing was written."
    )


@strawberry.input(description="More atoms of an existing calculation.")
class AddAtomicPropertiesInput:
    calculation_id: relay.GlobalID = strawberry.field(description="The calculation.")
    atomic_properties: list[AtomicPropertyInput] = strawberry.field(
        default_factory=list,
        description=f"Per-atom results (at most {MAX_BULK_ROWS}); indexes the calculation "
        "already has are refused (CONFLICT, ALREADY_EXISTS).",
    )
    atomic_property_columns: AtomicPropertyColumnsInput | None = strawberry.field(
        default=None,
        description="The same per-atom results as columns, instead of atomicProperties.",
    )


@strawberry.input(description="A calculation's next status, with the results it comes with.")
class SetCalculationStatusInput:
    id: relay.GlobalID = strawberry.field(description="The calculation.")
    status: Status = strawberry.field(description="The status it moves to.")
    energy: float | None = strawberry.field(default=None, description="Total energy (Hartree).")
    gap: float | None = strawberry.field(default=None, description="HOMO-LUMO gap (eV), >= 0.")
    dipole: float | None = strawberry.field(default=None, description="Dipole (Debye), >= 0.")
    execution_seconds: float | None = strawberry.field(
        default=None, description="Wall time in seconds, >= 0."
    )
    error: str | None = strawberry.field(default=None, description="Why it failed.")
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the calculation changed."
    )


@strawberry.type(description="The calculation.")
class CalculationPayload:
    calculation: Calculation = strawberry.field(description="The calculation as it is now.")


def _results(input: CreateCalculationInput | SetCalculationStatusInput) -> writes.Results:
    return writes.Results(
        energy=input.energy,
        gap=input.gap,
        dipole=input.dipole,
        execution_seconds=input.execution_seconds,
        error=input.error,
    )


@strawberry.type
class ChemistryMutations:
    @strawberry.mutation(
        description="Get or create a molecule by its structure (seed 002 create_molecule and "
        "get_molecule_by_smiles): SMILES are stored in RDKit's canonical form, so OCC and CCO "
        "are one molecule, and the formula is derived from the structure. A molecule that "
        "exists is returned unchanged with created false, also when another client creates "
        "it at the same moment."
    )
    async def create_molecule(
        self, info: WriteInfo, input: CreateMoleculeInput
    ) -> CreateMoleculePayload:
        spec = input.spec("input")
        async with write(info, server="the chemistry store") as writer:
            [(molecule, created)] = await writes.get_or_create_molecules(
                writer, [spec], field="smiles"
            )
        return CreateMoleculePayload(molecule=molecule, created=created)  # type: ignore[arg-type]

    @strawberry.mutation(
        description=f"Get or create up to {MAX_MOLECULES} molecules in one transaction, as "
        "createMolecule does for one, given as molecules or as moleculeColumns; results in "
        "input order."
    )
    async def create_molecules(
        self, info: WriteInfo, input: CreateMoleculesInput
    ) -> CreateMoleculesPayload:
        specs = _molecules(input.molecules, input.molecule_columns)
        async with write(info, server="the chemistry store") as writer:
            results = await writes.get_or_create_molecules(writer, specs)
        return CreateMoleculesPayload(
            molecules=[
                CreateMoleculePayload(molecule=molecule, created=created)  # type: ignore[arg-type]
                for molecule, created in results
            ]
        )

    @strawberry.mutation(
        description="Change a molecule's name or attributes (seed 002 update_molecule); its "
        "structure is what identifies it and cannot change. Delete with deleteNode."
    )
    async def update_molecule(self, info: WriteInfo, input: UpdateMoleculeInput) -> MoleculePayload:
        molecule = await update_node(info, models.Molecule, input)
        return MoleculePayload(molecule=molecule)

    @strawberry.mutation(
        description="Create a calculation of a molecule with its atomic properties, in one "
        "call (seed 002 create_calculation and create_atomic_properties); at most "
        f"{MAX_BULK_ROWS} atoms. The atoms are recorded in the calculation's created event."
    )
    async def create_calculation(
        self, info: WriteInfo, input: CreateCalculationInput
    ) -> CreateCalculationPayload:
        molecule_id = row_id(input.molecule_id, models.Molecule, "moleculeId")
        atoms = _atoms(input.atomic_properties, input.atomic_property_columns)
        attributes = json_object(input.attributes, "attributes")
        results = _results(input)
        async with write(info, server="the chemistry store") as writer:
            earlier, idempotency = await replayed(
                writer, models.Calculation, input.idempotency_key, "createCalculation", vars(input)
            )
            if earlier is not None:
                return CreateCalculationPayload(
                    calculation=earlier,  # type: ignore[arg-type]
                    replayed=True,
                )
            calculation = await writes.create_calculation(
                writer,
                molecule_id=molecule_id,
                method=input.method,
                status=models.Status(input.status.value),
                results=results,
                attributes=attributes,
                atoms=atoms,
            )
            await idempotency.finish(calculation)
        return CreateCalculationPayload(
            calculation=calculation,  # type: ignore[arg-type]
            replayed=False,
        )

    @strawberry.mutation(
        description=f"Add atoms (at most {MAX_BULK_ROWS}) to a calculation (seed 002 "
        "create_atomic_properties)."
    )
    async def add_atomic_properties(
        self, info: WriteInfo, input: AddAtomicPropertiesInput
    ) -> CalculationPayload:
        calculation_id = row_id(input.calculation_id, models.Calculation, "calculationId")
        atoms = _atoms(input.atomic_properties, input.atomic_property_columns)
        async with write(info, server="the chemistry store") as writer:
            calculation = await writes.add_atomic_properties(writer, calculation_id, atoms)
        return CalculationPayload(calculation=calculation)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a calculation through its lifecycle with the results that come "
        "with the move (seed 002 log_calculation_started, _completed, _failed): PENDING -> "
        "RUNNING -> SUCCEEDED or FAILED. startedAt and finishedAt are set by the server; the "
        "status_changed event carries the results. Other moves are refused (CONFLICT, "
        "ILLEGAL_TRANSITION)."
    )
    async def set_calculation_status(
        self, info: WriteInfo, input: SetCalculationStatusInput
    ) -> CalculationPayload:
        calculation_id = row_id(input.id, models.Calculation, "id")
        results = _results(input)
        async with write(info, server="the chemistry store") as writer:
            calculation = await writes.set_calculation_status(
                writer,
                calculation_id,
                models.Status(input.status.value),
                results,
                expected_version=input.expected_version,
            )
        return CalculationPayload(calculation=calculation)  # type: ignore[arg-type]
