"""Molecules and their GFN-xTB calculations, with per-atom charges of the successful ones."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scimeta.demo.context import DemoLoad
from scimeta.demo.determinism import BASE_TIME, rng_for
from scimeta.demo.molecule_catalogue import CatalogueMolecule, molecule_catalogue
from scimeta.models import AtomicProperty, Calculation, Molecule, Status

# Rough per-element contributions to a GFN2-xTB total energy (Hartree), partial charges
# (e) and static polarisabilities (bohr³), from which each calculation scatters.
_ENERGY = {"H": -0.507, "B": -1.90, "C": -2.147, "N": -2.91, "O": -4.056, "F": -4.72}
_ENERGY |= {"P": -3.10, "S": -3.77, "Cl": -4.48, "Br": -4.03, "I": -3.66}
_CHARGE = {"H": 0.06, "B": 0.20, "C": -0.06, "N": -0.36, "O": -0.44, "F": -0.20}
_CHARGE |= {"P": 0.30, "S": -0.14, "Cl": -0.15, "Br": -0.10, "I": -0.05}
_POLARIZABILITY = {"H": 2.6, "B": 9.0, "C": 7.8, "N": 6.2, "O": 5.3, "F": 3.2}
_POLARIZABILITY |= {"P": 21.0, "S": 18.5, "Cl": 14.2, "Br": 20.1, "I": 31.0}
_ERRORS = (
    "SCF did not converge in 250 iterations",
    "geometry optimization did not converge in 200 cycles",
    "xtb terminated abnormally (exit status 139)",
)
_WORKERS = ("xtb-worker-01", "xtb-worker-02", "xtb-worker-03")
XTB_VERSION = "6.7.1"


def molecule_count(scale: int) -> int:
    return 20 * scale


@dataclass
class PlannedCalculation:
    status: Status
    method: str
    solvent: str | None
    submitted_at: datetime
    worker: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    results: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    charges: list[float] = field(default_factory=list)
    polarizabilities: list[float] = field(default_factory=list)


def _first_status(index: int, rng: random.Random) -> Status:
    """Mostly successes; fixed positions make sure even the smallest load has a failure,
    a calculation running, one queued and one cancelled."""
    forced = {3: Status.FAILED, 7: Status.RUNNING, 13: Status.PENDING}
    if index % 50 == 17:
        return Status.CANCELLED
    if index % 20 in forced:
        return forced[index % 20]
    return Status.FAILED if rng.random() < 0.05 else Status.SUCCEEDED


def _compute(
    rng: random.Random, molecule: CatalogueMolecule, calculation: PlannedCalculation
) -> None:
    """Times, and results or the error, of a calculation that got to run."""
    atoms = len(molecule.elements)
    calculation.started_at = calculation.submitted_at + timedelta(seconds=rng.uniform(1, 600))
    seconds = (0.2 + 0.0025 * atoms**1.7) * rng.uniform(0.8, 1.25)
    if calculation.status is Status.RUNNING:
        return
    if calculation.status is Status.FAILED:
        seconds *= rng.uniform(0.2, 3.0)
        calculation.error = rng.choice(_ERRORS)
    else:
        energy = sum(_ENERGY[element] for element in molecule.elements)
        gap = molecule.gap_ev * rng.gauss(1.0, 0.05)
        dipole = abs(molecule.dipole_debye * rng.gauss(1.0, 0.08) + rng.gauss(0.0, 0.03))
        if calculation.method == "GFN1-xTB":
            energy *= 1.004
            gap += 0.3
        if calculation.solvent is not None:
            # Implicit solvent stabilises polar molecules and polarises them further.
            energy -= 0.001 + 0.002 * molecule.dipole_debye
            dipole *= 1.2
        calculation.results = {
            "energy": round(energy + rng.gauss(0.0, 0.01 * math.sqrt(atoms)), 6),
            "gap": round(min(5.0, max(0.1, gap)), 4),
            "dipole": round(dipole, 4),
        }
        raw = [_CHARGE[element] + rng.gauss(0.0, 0.03) for element in molecule.elements]
        # A neutral molecule's partial charges add up to zero.
        mean = sum(raw) / atoms
        calculation.charges = [round(charge - mean, 4) for charge in raw]
        calculation.polarizabilities = [
            round(_POLARIZABILITY[element] * rng.uniform(0.95, 1.05), 3)
            for element in molecule.elements
        ]
    calculation.results["execution_seconds"] = round(seconds, 3)
    calculation.finished_at = calculation.started_at + timedelta(
        seconds=seconds + rng.uniform(0.5, 2)
    )


def plan_calculations(index: int, molecule: CatalogueMolecule) -> list[PlannedCalculation]:
    """One or two calculations: a retry after a failure, or a rerun of a success in
    implicit water or with GFN1-xTB."""
    rng = rng_for("molecule", index)
    first = PlannedCalculation(
        status=_first_status(index, rng),
        method="GFN2-xTB",
        solvent=None,
        submitted_at=BASE_TIME + timedelta(minutes=3 * index),
        worker=rng.choice(_WORKERS),
    )
    if first.status is Status.CANCELLED:
        first.finished_at = first.submitted_at + timedelta(minutes=rng.uniform(10, 120))
    elif first.status is not Status.PENDING:
        _compute(rng, molecule, first)
    calculations = [first]
    if first.finished_at is not None and first.status is not Status.CANCELLED:
        failed = first.status is Status.FAILED
        retry = failed and rng.random() < 0.6
        if retry or (not failed and rng.random() < 0.35):
            gfn1 = not retry and rng.random() < 0.3
            second = PlannedCalculation(
                status=Status.SUCCEEDED if rng.random() < 0.9 else Status.FAILED,
                method="GFN1-xTB" if gfn1 else "GFN2-xTB",
                solvent=None if retry or gfn1 else "water",
                submitted_at=first.finished_at + timedelta(hours=rng.uniform(1, 48)),
                worker=rng.choice(_WORKERS),
            )
            _compute(rng, molecule, second)
            calculations.append(second)
    return calculations


def _calculation_row(molecule_id: int, calculation: PlannedCalculation) -> dict[str, Any]:
    results = calculation.results
    return {
        "molecule_id": molecule_id,
        "method": calculation.method,
        "status": calculation.status,
        "energy": results.get("energy"),
        "gap": results.get("gap"),
        "dipole": results.get("dipole"),
        "execution_seconds": results.get("execution_seconds"),
        "started_at": calculation.started_at,
        "finished_at": calculation.finished_at,
        "error": calculation.error,
        "attributes": {
            "xtb_version": XTB_VERSION,
            "charge": 0,
            "uhf": 0,
            "solvent": calculation.solvent,
        },
        # Submission time, so that "latest calculation" means the latest submitted.
        "created_at": calculation.submitted_at,
        "updated_at": calculation.finished_at or calculation.started_at or calculation.submitted_at,
    }


async def load_chemistry(demo: DemoLoad) -> list[CatalogueMolecule]:
    """Molecules not stored yet, with their calculations; returns the whole catalogue of
    this scale, which batches draw from."""
    catalogue = molecule_catalogue(molecule_count(demo.scale))
    rows = [
        {
            "smiles": molecule.smiles,
            "name": molecule.name,
            "formula": molecule.formula,
            "attributes": {"origin": molecule.origin},
        }
        for molecule in catalogue
    ]
    new_ids = await demo.writer.insert_new(Molecule, rows, key="smiles")
    planned = [
        (new_ids[molecule.smiles], molecule, calculation)
        for index, molecule in enumerate(catalogue)
        if molecule.smiles in new_ids
        for calculation in plan_calculations(index, molecule)
    ]
    calculation_ids = await demo.writer.allocate_ids(Calculation, len(planned))
    calculations: list[dict[str, object]] = []
    properties: list[dict[str, object]] = []
    for calculation_id, (molecule_id, molecule, calculation) in zip(
        calculation_ids, planned, strict=True
    ):
        calculations.append({"id": calculation_id} | _calculation_row(molecule_id, calculation))
        if calculation.charges:
            properties.extend(
                {
                    "calculation_id": calculation_id,
                    "atom_index": atom_index,
                    "element": element,
                    "charge": charge,
                    "values": {"polarizability": polarizability},
                }
                for atom_index, (element, charge, polarizability) in enumerate(
                    zip(
                        molecule.elements,
                        calculation.charges,
                        calculation.polarizabilities,
                        strict=True,
                    )
                )
            )
        details: dict[str, Any] = dict(calculation.results)
        if calculation.error is not None:
            details["error"] = calculation.error
        demo.events.lifecycle(
            "Calculation",
            calculation_id,
            calculation.worker,
            calculation.status,
            calculation.started_at,
            calculation.finished_at,
            **details,
        )
    await demo.writer.copy(Calculation, calculations)
    await demo.writer.copy(AtomicProperty, properties)
    return catalogue
