"""Batch functions specific to molecules, calculations and batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select

from scimeta.loaders.batch import LoaderSource, execute, key_in
from scimeta.models import Batch, BatchItem, Calculation, Molecule, Status


async def batch_item_counts(source: LoaderSource, keys: Sequence[int]) -> list[dict[Status, int]]:
    """Per batch id: the number of its items in each status."""
    statement = (
        select(BatchItem.batch_id, BatchItem.status, func.count())
        .where(key_in(BatchItem.batch_id, keys))
        .group_by(BatchItem.batch_id, BatchItem.status)
    )
    counts: defaultdict[int, dict[Status, int]] = defaultdict(dict)
    for batch_id, status, count in await execute(source, statement):
        counts[batch_id][status] = int(count)
    return [counts.get(key, {}) for key in keys]


async def chemistry_statistics(
    source: LoaderSource, conditions: Sequence[ColumnElement[bool]]
) -> dict[str, Any]:
    """The dashboard figures of the chemistry store, over calculations matching
    `conditions`, in one statement."""
    finished = Calculation.status.in_([Status.SUCCEEDED, Status.FAILED])
    statement = select(
        select(func.count()).select_from(Molecule).scalar_subquery().label("molecules"),
        select(func.count()).select_from(Batch).scalar_subquery().label("batches"),
        func.count().label("calculations"),
        func.count().filter(Calculation.status == Status.SUCCEEDED).label("succeeded"),
        func.count().filter(Calculation.status == Status.FAILED).label("failed"),
        func.count().filter(finished).label("finished"),
        func.avg(Calculation.energy).label("average_energy"),
        func.percentile_cont(0.5).within_group(Calculation.gap).label("median_gap"),
        func.max(Calculation.created_at).label("latest_calculation_at"),
    ).where(*conditions)
    ((row),) = await execute(source, statement.select_from(Calculation))
    return dict(row._mapping)
