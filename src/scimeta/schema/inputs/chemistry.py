"""Filters and sort keys of molecules, calculations, atomic properties and batches."""

from __future__ import annotations

from scimeta import models
from scimeta.schema.filters import (
    DateTimeFilter,
    FloatFilter,
    IDFilter,
    IntFilter,
    StatusFilter,
    StringFilter,
    where_input,
)
from scimeta.schema.ordering import order_input

_M = __name__
_CORE = "scimeta.schema.inputs.core"

MoleculeWhere = where_input(
    "MoleculeWhere",
    models.Molecule,
    module=_M,
    noun="molecule",
    fields={
        "id": IDFilter,
        "smiles": StringFilter,
        "name": StringFilter,
        "formula": StringFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "calculations": (
            models.Molecule.id,
            models.Calculation.molecule_id,
            "CalculationWhere",
            _M,
        ),
    },
)
MoleculeOrder = order_input(
    "MoleculeOrder",
    "molecule",
    {
        "SMILES": models.Molecule.smiles,
        "NAME": models.Molecule.name,
        "FORMULA": models.Molecule.formula,
        "CREATED_AT": models.Molecule.created_at,
    },
)

CalculationWhere = where_input(
    "CalculationWhere",
    models.Calculation,
    module=_M,
    noun="calculation",
    fields={
        "id": IDFilter,
        "method": StringFilter,
        "status": StatusFilter,
        "energy": FloatFilter,
        "gap": FloatFilter,
        "dipole": FloatFilter,
        "execution_seconds": FloatFilter,
        "started_at": DateTimeFilter,
        "finished_at": DateTimeFilter,
        "created_at": DateTimeFilter,
    },
    relations={
        "molecule": (models.Calculation.molecule_id, models.Molecule.id, "MoleculeWhere", _M),
        "metrics": (models.Calculation.id, models.Metric.calculation_id, "MetricWhere", _CORE),
    },
)
CalculationOrder = order_input(
    "CalculationOrder",
    "calculation",
    {
        "METHOD": models.Calculation.method,
        "STATUS": models.Calculation.status,
        "ENERGY": models.Calculation.energy,
        "GAP": models.Calculation.gap,
        "DIPOLE": models.Calculation.dipole,
        "EXECUTION_SECONDS": models.Calculation.execution_seconds,
        "FINISHED_AT": models.Calculation.finished_at,
        "CREATED_AT": models.Calculation.created_at,
    },
)

AtomicPropertyWhere = where_input(
    "AtomicPropertyWhere",
    models.AtomicProperty,
    module=_M,
    noun="atomic property",
    fields={
        "id": IDFilter,
        "atom_index": IntFilter,
        "element": StringFilter,
        "charge": FloatFilter,
    },
)
AtomicPropertyOrder = order_input(
    "AtomicPropertyOrder",
    "atomic property",
    {
        "ATOM_INDEX": models.AtomicProperty.atom_index,
        "ELEMENT": models.AtomicProperty.element,
        "CHARGE": models.AtomicProperty.charge,
    },
)

BatchWhere = where_input(
    "BatchWhere",
    models.Batch,
    module=_M,
    noun="batch",
    fields={
        "id": IDFilter,
        "name": StringFilter,
        "method": StringFilter,
        "status": StatusFilter,
        "started_at": DateTimeFilter,
        "finished_at": DateTimeFilter,
        "created_at": DateTimeFilter,
    },
)
BatchOrder = order_input(
    "BatchOrder",
    "batch",
    {
        "NAME": models.Batch.name,
        "STATUS": models.Batch.status,
        "CREATED_AT": models.Batch.created_at,
    },
)

BatchItemWhere = where_input(
    "BatchItemWhere",
    models.BatchItem,
    module=_M,
    noun="batch item",
    fields={"id": IDFilter, "status": StatusFilter, "created_at": DateTimeFilter},
    relations={
        "batch": (models.BatchItem.batch_id, models.Batch.id, "BatchWhere", _M),
        "molecule": (models.BatchItem.molecule_id, models.Molecule.id, "MoleculeWhere", _M),
        "calculation": (
            models.BatchItem.calculation_id,
            models.Calculation.id,
            "CalculationWhere",
            _M,
        ),
    },
)
BatchItemOrder = order_input(
    "BatchItemOrder",
    "batch item",
    {"STATUS": models.BatchItem.status, "CREATED_AT": models.BatchItem.created_at},
)
