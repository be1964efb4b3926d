"""The `where:` and `orderBy:` inputs of molecules, calculations, atomic properties, batches and
batch items.

They are written in `scimeta.schema.generated` by `python -m scimeta.schema.generate`,
from `scimeta.schema.inputs.specs`."""

from scimeta.schema.generated.order import (
    AtomicPropertyOrder,
    BatchItemOrder,
    BatchOrder,
    CalculationOrder,
    MoleculeOrder,
)
from scimeta.schema.generated.where import (
    AtomicPropertyWhere,
    BatchItemWhere,
    BatchWhere,
    CalculationWhere,
    MoleculeWhere,
)

__all__ = [
    "AtomicPropertyOrder",
    "AtomicPropertyWhere",
    "BatchItemOrder",
    "BatchItemWhere",
    "BatchOrder",
    "BatchWhere",
    "CalculationOrder",
    "CalculationWhere",
    "MoleculeOrder",
    "MoleculeWhere",
]
