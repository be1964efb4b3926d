"""Batches of molecules to compute: a dispatched item follows its molecule's latest
calculation, and the batch is as far along as its items."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on

from scimeta.demo.bulk import table_of
from scimeta.demo.context import DemoLoad
from scimeta.demo.determinism import BASE_TIME, rng_for
from scimeta.demo.molecule_catalogue import CatalogueMolecule
from scimeta.models import Batch, BatchItem, Calculation, Molecule, Status

# What the batches are doing, in turn: the first is still running, so that even the
# smallest load has items done, running and waiting.
_BATCH_STATUSES = (
    Status.RUNNING,
    Status.SUCCEEDED,
    Status.PENDING,
    Status.SUCCEEDED,
    Status.CANCELLED,
    Status.SUCCEEDED,
)
_FINISHED = (Status.SUCCEEDED, Status.FAILED)
# Calculation states a dispatched item takes over; any other waits for a new calculation.
_FOLLOWED = (*_FINISHED, Status.RUNNING)
_RUNNER = "batch-runner"
MOLECULES_PER_WINDOW = 200
# Share of a running or cancelled batch's items that had been dispatched.
_DISPATCHED_SHARE = 0.6


def batch_count(scale: int) -> int:
    return 1 + scale // 10


def _window(batch_index: int) -> range:
    """Catalogue positions a batch draws from: present at every scale that has the batch,
    so that the batch holds the same molecules whatever scale loaded it."""
    if batch_index == 0:
        return range(20)
    return range(MOLECULES_PER_WINDOW * (batch_index - 1), MOLECULES_PER_WINDOW * batch_index)


@dataclass(frozen=True)
class _Calculation:
    id: int
    status: Status
    started_at: datetime | None
    finished_at: datetime | None


async def _latest_calculations(demo: DemoLoad, molecule_ids: list[int]) -> dict[int, _Calculation]:
    """Each molecule's latest calculation, by molecule id."""
    table = table_of(Calculation)
    columns = (table.c.id, table.c.status, table.c.started_at, table.c.finished_at)
    statement = (
        select(table.c.molecule_id, *columns)
        .where(table.c.molecule_id.in_(molecule_ids))
        .ext(distinct_on(table.c.molecule_id))
        .order_by(table.c.molecule_id, table.c.created_at.desc(), table.c.id.desc())
    )
    result = await demo.writer.connection.execute(statement)
    return {row[0]: _Calculation(row[1], Status(row[2]), row[3], row[4]) for row in result}


@dataclass
class _Item:
    molecule_id: int
    status: Status
    calculation: _Calculation | None


def _items(
    rng: random.Random, status: Status, molecule_ids: list[int], latest: dict[int, _Calculation]
) -> list[_Item]:
    if status in (Status.SUCCEEDED, Status.CANCELLED):
        # A finished batch only ever dispatched molecules whose calculation finished.
        molecule_ids = [
            molecule_id
            for molecule_id in molecule_ids
            if molecule_id in latest and latest[molecule_id].status in _FINISHED
        ]
    chosen = sorted(rng.sample(molecule_ids, min(len(molecule_ids), rng.randint(12, 40))))
    dispatched = len(chosen) if status is Status.SUCCEEDED else 0
    if status in (Status.RUNNING, Status.CANCELLED):
        dispatched = int(_DISPATCHED_SHARE * len(chosen))
    items = []
    for position, molecule_id in enumerate(chosen):
        calculation = latest.get(molecule_id)
        if position < dispatched and calculation is not None and calculation.status in _FOLLOWED:
            items.append(_Item(molecule_id, calculation.status, calculation))
        elif position >= dispatched and status is Status.CANCELLED:
            items.append(_Item(molecule_id, Status.CANCELLED, None))
        else:
            items.append(_Item(molecule_id, Status.PENDING, None))
    return items


@dataclass
class _PlannedBatch:
    row: dict[str, object]
    items: list[_Item]
    finished_at: datetime | None


async def _plan_batch(
    demo: DemoLoad, index: int, name: str, catalogue: list[CatalogueMolecule]
) -> _PlannedBatch:
    rng = rng_for("batch", index)
    status = _BATCH_STATUSES[index % len(_BATCH_STATUSES)]
    smiles = [catalogue[position].smiles for position in _window(index)]
    molecule_ids = await demo.writer.ids_by_key(Molecule, "smiles", smiles)
    latest = await _latest_calculations(demo, list(molecule_ids.values()))
    items = _items(rng, status, sorted(molecule_ids.values()), latest)
    followed = [item.calculation for item in items if item.calculation is not None]
    starts = [c.started_at for c in followed if c.started_at is not None]
    finishes = [c.finished_at for c in followed if c.finished_at is not None]
    created_at = BASE_TIME + timedelta(days=index, hours=rng.uniform(0, 12))
    if starts:
        created_at = min(starts) - timedelta(minutes=rng.uniform(1, 30))
    finished_at = None
    if status is Status.SUCCEEDED:
        finished_at = max(finishes, default=created_at)
    elif status is Status.CANCELLED:
        finished_at = max(finishes, default=created_at) + timedelta(hours=rng.uniform(1, 6))
    row: dict[str, object] = {
        "name": name,
        "description": f"GFN2-xTB screening of {len(items)} molecules",
        "method": "GFN2-xTB",
        "status": status,
        "started_at": None if status is Status.PENDING else min(starts, default=created_at),
        "finished_at": finished_at,
        "attributes": {"requested_by": rng.choice(("qforge-ui", "screening-script"))},
        "created_at": created_at,
        "updated_at": finished_at or created_at,
    }
    return _PlannedBatch(row, items, finished_at)


async def load_batches(demo: DemoLoad, catalogue: list[CatalogueMolecule]) -> None:
    """Batches not stored yet, with their items and the items' status events."""
    names = [f"xtb-screen-{index + 1:03d}" for index in range(batch_count(demo.scale))]
    # Batch names are not unique in the schema, so existing ones are looked up first.
    existing = await demo.writer.ids_by_key(Batch, "name", names)
    planned = [
        await _plan_batch(demo, index, name, catalogue)
        for index, name in enumerate(names)
        if name not in existing
    ]
    batch_ids = await demo.writer.allocate_ids(Batch, len(planned))
    item_ids = iter(await demo.writer.allocate_ids(BatchItem, sum(len(p.items) for p in planned)))
    batches, items = [], []
    for batch_id, batch in zip(batch_ids, planned, strict=True):
        batches.append({"id": batch_id} | batch.row)
        for item in batch.items:
            item_id = next(item_ids)
            calculation = item.calculation
            items.append(
                {
                    "id": item_id,
                    "batch_id": batch_id,
                    "molecule_id": item.molecule_id,
                    "status": item.status,
                    "calculation_id": None if calculation is None else calculation.id,
                }
            )
            if calculation is not None:
                demo.events.lifecycle(
                    "BatchItem",
                    item_id,
                    _RUNNER,
                    item.status,
                    calculation.started_at,
                    calculation.finished_at,
                )
            elif item.status is Status.CANCELLED:
                demo.events.lifecycle(
                    "BatchItem", item_id, _RUNNER, item.status, None, batch.finished_at
                )
    await demo.writer.copy(Batch, batches)
    await demo.writer.copy(BatchItem, items)
