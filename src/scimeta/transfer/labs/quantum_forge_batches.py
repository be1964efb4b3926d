"""The batch jobs of a Quantum Forge store and their items, in one step: a batch is told
apart by (name, created_at), an item by (batch, molecule)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from scimeta.models import Status
from scimeta.transfer.labs.quantum_forge_rows import (
    NAME_LENGTH,
    Refused,
    iso,
    json_of,
    present,
    status_of,
    time_of,
)
from scimeta.transfer.labs.quantum_forge_run import ImportRun, event
from scimeta.transfer.labs.quantum_forge_sql import INSERT_BATCHES, INSERT_ITEMS
from scimeta.writes.chemistry import DEFAULT_METHOD

BATCH_STATUS = {
    "pending": Status.PENDING,
    "in_progress": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
}
ITEM_STATUS = {
    "pending": Status.PENDING,
    "processing": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "skipped": Status.CANCELLED,
}


@dataclass
class Batch:
    source_id: int
    name: str
    description: str | None
    method: str
    status: Status
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attributes: dict[str, Any]


@dataclass
class Item:
    source_id: int
    batch: int  # source id
    molecule_id: int
    status: Status
    calculation_id: int | None
    created_at: datetime | None
    details: dict[str, Any]


async def import_batches(run: ImportRun) -> None:
    batch_rows = await run.store.rows("batch_jobs")
    item_rows = await run.store.rows("batch_items")
    batches = run.report.of("Batch")
    items = run.report.of("BatchItem")
    run.progress.begin("Batch+BatchItem", len(batch_rows) + len(item_rows))
    taken: list[Batch] = []
    keys: dict[tuple[str, datetime], int] = {}
    for row in batch_rows:
        batches.read += 1
        try:
            batch = _batch(row)
            if (batch.name, batch.created_at) in keys:
                raise Refused(
                    f"batch {keys[(batch.name, batch.created_at)]} has the same batch_name "
                    "and created_at; scimeta tells batches apart by these two"
                )
            keys[(batch.name, batch.created_at)] = batch.source_id
            taken.append(batch)
        except Refused as exc:
            run.refuse("Batch", "batch_jobs", row["id"], str(exc))
    taken_ids = {batch.source_id for batch in taken}
    members: dict[tuple[int, int], int] = {}
    chosen: list[Item] = []
    for row in item_rows:
        items.read += 1
        try:
            item = _item(run, row, taken_ids)
            if (item.batch, item.molecule_id) in members:
                raise Refused(
                    f"batch item {members[(item.batch, item.molecule_id)]} puts the same "
                    "molecule (by canonical SMILES) in the same batch; a batch holds a "
                    "molecule once"
                )
            members[(item.batch, item.molecule_id)] = item.source_id
            chosen.append(item)
        except Refused as exc:
            run.refuse("BatchItem", "batch_items", row["id"], str(exc))
    async with run.step() as writer:
        created_batches = await _insert_batches(run, taken)
        created_items = await _insert_items(run, chosen)
        batch_ids = run.ids.get("batch_jobs", {})
        added: dict[int, int] = {}
        for item in chosen:
            if run.ids["batch_items"][item.source_id] in created_items:
                added[item.batch] = added.get(item.batch, 0) + 1
        for batch in taken:
            batch_id = batch_ids[batch.source_id]
            if batch_id in created_batches:
                payload = _snapshot(batch_id, batch) | {"items": added.get(batch.source_id, 0)}
                writer.record(event("Batch", batch_id, "created", payload))
            elif added.get(batch.source_id):
                writer.record(
                    event("Batch", batch_id, "items_added", {"count": added[batch.source_id]})
                )
        for item in chosen:
            item_id = run.ids["batch_items"][item.source_id]
            if item_id in created_items:
                snapshot = {
                    "id": item_id,
                    "batch_id": batch_ids[item.batch],
                    "molecule_id": item.molecule_id,
                    "status": item.status.value,
                    "calculation_id": item.calculation_id,
                }
                writer.record(
                    event("BatchItem", item_id, "created", present(snapshot | item.details))
                )
    run.progress.advance(len(batch_rows) + len(item_rows))
    run.progress.end()


def _batch(row: dict[str, Any]) -> Batch:
    name = row.get("batch_name")
    if not isinstance(name, str) or not name or len(name) > NAME_LENGTH:
        raise Refused(f"its batch_name {name!r} is not 1 to {NAME_LENGTH} characters")
    status = status_of(row, BATCH_STATUS)
    created_at = time_of(row, "created_at")
    if created_at is None:
        raise Refused("it has no created_at, which scimeta needs to tell batches apart")
    parameters = json_of(row, "parameters") or {}
    method = parameters.get("method") if isinstance(parameters, dict) else None
    if method is not None and (not isinstance(method, str) or not 1 <= len(method) <= 64):
        raise Refused(f"its parameters' method {method!r} is not a name of 1 to 64 characters")
    attributes: dict[str, Any] = {"source_id": row["id"]}
    if parameters:
        attributes["parameters"] = parameters
    metadata = json_of(row, "metadata")
    if metadata:
        attributes["metadata"] = metadata
    if row.get("user_id") is not None:
        attributes["user_id"] = row["user_id"]
    return Batch(
        source_id=row["id"],
        name=name,
        description=row.get("description"),
        method=method or DEFAULT_METHOD,
        status=status,
        created_at=created_at,
        started_at=time_of(row, "started_at"),
        finished_at=time_of(row, "completed_at"),
        attributes=attributes,
    )


def _item(run: ImportRun, row: dict[str, Any], batches: set[int]) -> Item:
    batch = row.get("batch_id")
    if batch not in batches:
        run.reference("batch_jobs", batch, "batch")  # raises, saying why
    molecule_id = run.reference("molecules", row.get("molecule_id"), "molecule")
    status = status_of(row, ITEM_STATUS)
    calculation_id = None
    if row.get("calculation_id") is not None:
        calculation_id = run.reference("calculations", row["calculation_id"], "calculation")
        if run.calculation_molecule[calculation_id] != molecule_id:
            raise Refused(
                f"its calculation {row['calculation_id']} is of another molecule than the "
                f"item's molecule {row['molecule_id']}; an item's calculation is of its "
                "molecule"
            )
    details = {
        "error_message": row.get("error_message"),
        "retry_count": row.get("retry_count") or None,
        "started_at": iso(time_of(row, "started_at")),
        "completed_at": iso(time_of(row, "completed_at")),
        "metadata": json_of(row, "metadata") or None,
        "user_id": row.get("user_id"),
        "source_id": row["id"],
    }
    return Item(
        source_id=row["id"],
        batch=cast(int, batch),
        molecule_id=molecule_id,
        status=status,
        calculation_id=calculation_id,
        created_at=time_of(row, "created_at"),
        details=details,
    )


async def _insert_batches(run: ImportRun, batches: Sequence[Batch]) -> set[int]:
    driver = await run.driver()
    rows = await driver.fetch(
        INSERT_BATCHES,
        [b.name for b in batches],
        [b.description for b in batches],
        [b.method for b in batches],
        [b.status.value for b in batches],
        [b.started_at for b in batches],
        [b.finished_at for b in batches],
        [json.dumps(b.attributes, default=str) for b in batches],
        [b.created_at for b in batches],
    )
    return run.taken("batch_jobs", "Batch", [b.source_id for b in batches], rows)


async def _insert_items(run: ImportRun, items: Sequence[Item]) -> set[int]:
    driver = await run.driver()
    batch_ids = run.ids.get("batch_jobs", {})
    rows = await driver.fetch(
        INSERT_ITEMS,
        [batch_ids[i.batch] for i in items],
        [i.molecule_id for i in items],
        [i.status.value for i in items],
        [i.calculation_id for i in items],
        [i.created_at for i in items],
    )
    return run.taken("batch_items", "BatchItem", [i.source_id for i in items], rows)


def _snapshot(batch_id: int, batch: Batch) -> dict[str, Any]:
    return present(
        {
            "id": batch_id,
            "name": batch.name,
            "description": batch.description,
            "method": batch.method,
            "status": batch.status.value,
            "started_at": iso(batch.started_at),
            "finished_at": iso(batch.finished_at),
        }
    )
