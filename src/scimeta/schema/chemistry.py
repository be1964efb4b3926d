"""Molecules, calculations with per-atom properties, and batches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.schema.connections import list_field
from scimeta.schema.core import event_list, metric_list
from scimeta.schema.enums import Status
from scimeta.schema.inputs import chemistry as inputs
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import one

_MODULE = "scimeta.schema.chemistry"


@strawberry.type(description="A molecule, identified by its canonical SMILES.")
class Molecule(Entity):
    __model__ = models.Molecule

    smiles: str = strawberry.field(description="Canonical SMILES.")
    name: str | None = strawberry.field(description="Common name.")
    formula: str | None = strawberry.field(description="Molecular formula.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    calculations = list_field(
        Annotated["Calculation", strawberry.lazy(_MODULE)],
        models.Calculation,
        where=inputs.CalculationWhere,
        order=inputs.CalculationOrder,
        parent_key=models.Calculation.molecule_id,
        description="Calculations of this molecule, oldest first.",
    )


@strawberry.type(description="Per-atom results of a calculation.")
class AtomicProperty(Entity):
    __model__ = models.AtomicProperty

    atom_index: int = strawberry.field(description="Atom index, from 0.")
    element: str = strawberry.field(description="Element symbol.")
    charge: float | None = strawberry.field(description="Partial charge.")
    values: JSON = strawberry.field(description="Further per-atom values.")


@strawberry.type(description="A quantum-chemistry calculation of a molecule.")
class Calculation(Entity):
    __model__ = models.Calculation

    method: str = strawberry.field(description="Method, e.g. GFN2-xTB.")
    status: Status = strawberry.field(description="Lifecycle status.")
    energy: float | None = strawberry.field(description="Total energy (Hartree).")
    gap: float | None = strawberry.field(description="HOMO-LUMO gap (eV).")
    dipole: float | None = strawberry.field(description="Dipole moment (Debye).")
    execution_seconds: float | None = strawberry.field(description="Wall time in seconds.")
    started_at: datetime | None = strawberry.field(description="When it started.")
    finished_at: datetime | None = strawberry.field(description="When it finished.")
    error: str | None = strawberry.field(description="Error of a failed calculation.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    @strawberry.field(description="The molecule.")
    async def molecule(
        self, root: strawberry.Parent[models.Calculation], info: LoaderInfo
    ) -> Molecule:
        return await one(info, models.Molecule, root.molecule_id)

    atomic_properties = list_field(
        AtomicProperty,
        models.AtomicProperty,
        where=inputs.AtomicPropertyWhere,
        order=inputs.AtomicPropertyOrder,
        default_order=[OrderTerm(models.AtomicProperty.atom_index)],
        parent_key=models.AtomicProperty.calculation_id,
        description="Per-atom properties, by atom index.",
    )
    metrics = metric_list(models.Metric.calculation_id, "Metrics of this calculation.")
    events = event_list("Calculation", "Events about the calculation, oldest first.")


@strawberry.type(description="A batch of molecules computed together.")
class Batch(Entity):
    __model__ = models.Batch

    name: str = strawberry.field(description="Batch name.")
    description: str | None = strawberry.field(description="What the batch is for.")
    method: str = strawberry.field(description="Method used for every item.")
    status: Status = strawberry.field(description="Lifecycle status.")
    started_at: datetime | None = strawberry.field(description="When it started.")
    finished_at: datetime | None = strawberry.field(description="When it finished.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    items = list_field(
        Annotated["BatchItem", strawberry.lazy(_MODULE)],
        models.BatchItem,
        where=inputs.BatchItemWhere,
        order=inputs.BatchItemOrder,
        parent_key=models.BatchItem.batch_id,
        description="Items of the batch, in the order they were added.",
    )
    events = event_list("Batch", "Events about the batch, oldest first.")


@strawberry.type(description="A molecule in a batch, and its calculation once done.")
class BatchItem(Entity):
    __model__ = models.BatchItem

    status: Status = strawberry.field(description="Lifecycle status.")

    @strawberry.field(description="The batch.")
    async def batch(self, root: strawberry.Parent[models.BatchItem], info: LoaderInfo) -> Batch:
        return await one(info, models.Batch, root.batch_id)

    @strawberry.field(description="The molecule.")
    async def molecule(
        self, root: strawberry.Parent[models.BatchItem], info: LoaderInfo
    ) -> Molecule:
        return await one(info, models.Molecule, root.molecule_id)

    @strawberry.field(description="The calculation, once computed.")
    async def calculation(
        self, root: strawberry.Parent[models.BatchItem], info: LoaderInfo
    ) -> Calculation | None:
        return await one(info, models.Calculation, root.calculation_id)
