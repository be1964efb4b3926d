"""Molecules, calculations with per-atom properties, and batches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.models.ownership import relation
from scimeta.schema.connections import list_field
from scimeta.schema.core import event_list, metric_list
from scimeta.schema.enums import Status
from scimeta.schema.generated.lists import atomic_property_list, batch_item_list, calculation_list
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import StatusCounts, reads, related

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
        relation(models.Molecule, "calculations"),
        resolver=calculation_list,
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

    molecule: Molecule = related(models.Calculation, "molecule", description="The molecule.")

    atomic_properties = list_field(
        AtomicProperty,
        relation(models.Calculation, "atomic_properties"),
        resolver=atomic_property_list,
        default_order=[OrderTerm(models.AtomicProperty.atom_index)],
        description="Per-atom properties, by atom index.",
    )
    metrics = metric_list(relation(models.Calculation, "metrics"), "Metrics of this calculation.")
    events = event_list("Calculation", "Events about the calculation, oldest first.")


@strawberry.type(description="Items of a batch counted by status.")
class BatchProgress:
    total: int = strawberry.field(description="Number of items.")
    pending: int = strawberry.field(description="Items not started.")
    running: int = strawberry.field(description="Items being computed.")
    succeeded: int = strawberry.field(description="Items computed.")
    failed: int = strawberry.field(description="Items that failed.")
    cancelled: int = strawberry.field(description="Items cancelled.")

    @strawberry.field(description="Fraction of items finished (succeeded, failed or cancelled).")
    def fraction_done(self) -> float:
        finished = self.succeeded + self.failed + self.cancelled
        return finished / self.total if self.total else 0.0

    @classmethod
    def of(cls, counts: dict[Status, int]) -> BatchProgress:
        return cls(
            total=sum(counts.values()),
            pending=counts.get(Status.PENDING, 0),
            running=counts.get(Status.RUNNING, 0),
            succeeded=counts.get(Status.SUCCEEDED, 0),
            failed=counts.get(Status.FAILED, 0),
            cancelled=counts.get(Status.CANCELLED, 0),
        )


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
        relation(models.Batch, "items"),
        resolver=batch_item_list,
        description="Items of the batch, in the order they were added.",
    )
    events = event_list("Batch", "Events about the batch, oldest first.")

    @strawberry.field(description="How far the batch is: its items counted by status.")
    @reads(StatusCounts(models.BatchItem, "batch_id"))
    async def progress(
        self, root: strawberry.Parent[models.Batch], info: LoaderInfo
    ) -> BatchProgress:
        counts = await info.context.loaders.batch_item_counts().load(root.id)
        return BatchProgress.of(counts)


@strawberry.type(description="A molecule in a batch, and its calculation once done.")
class BatchItem(Entity):
    __model__ = models.BatchItem

    status: Status = strawberry.field(description="Lifecycle status.")

    batch: Batch = related(models.BatchItem, "batch", description="The batch.")

    molecule: Molecule = related(models.BatchItem, "molecule", description="The molecule.")

    calculation: Calculation | None = related(
        models.BatchItem, "calculation", description="The calculation, once computed."
    )


@strawberry.type(description="Dashboard figures of the chemistry store.")
class ChemistryStatistics:
    molecules: int = strawberry.field(description="Number of molecules (all of them).")
    batches: int = strawberry.field(description="Number of batches (all of them).")
    calculations: int = strawberry.field(description="Number of calculations counted.")
    succeeded: int = strawberry.field(description="Calculations that succeeded.")
    failed: int = strawberry.field(description="Calculations that failed.")
    average_energy: float | None = strawberry.field(description="Mean energy (Hartree).")
    median_gap: float | None = strawberry.field(description="Median HOMO-LUMO gap (eV).")
    latest_calculation_at: datetime | None = strawberry.field(
        description="When the newest calculation was created."
    )
    success_rate: float | None = strawberry.field(
        description="Succeeded / (succeeded + failed), from 0 to 1; null before any finished."
    )

    @classmethod
    def of(cls, figures: dict[str, Any]) -> ChemistryStatistics:
        return cls(**figures)
