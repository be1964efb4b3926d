"""Batch functions specific to molecules, calculations and batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, case, cast, func, null, select

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


def chemistry_statistics_statement(conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """The dashboard figures of the chemistry store, over calculations matching
    `conditions`, as one row named like the fields of `ChemistryStatistics`."""
    finished = func.count().filter(Calculation.status.in_([Status.SUCCEEDED, Status.FAILED]))
    succeeded = func.count().filter(Calculation.status == Status.SUCCEEDED)
    return (
        select(
            select(func.count()).select_from(Molecule).scalar_subquery().label("molecules"),
            select(func.count()).select_from(Batch).scalar_subquery().label("batches"),
            func.count().label("calculations"),
            succeeded.label("succeeded"),
            func.count().filter(Calculation.status == Status.FAILED).label("failed"),
            func.avg(Calculation.energy).label("average_energy"),
            func.percentile_cont(0.5).within_group(Calculation.gap).label("median_gap"),
            func.max(Calculation.created_at).label("latest_calculation_at"),
            case(
                (finished == 0, null()),
                else_=cast(succeeded, Float) / cast(finished, Float),
            ).label("success_rate"),
        )
        .select_from(Calculation)
        .where(*conditions)
    )


async def chemistry_statistics(
    source: LoaderSource, conditions: Sequence[ColumnElement[bool]]
) -> dict[str, Any]:
    """`chemistry_statistics_statement`'s figures, in one statement."""
    ((row),) = await execute(source, chemistry_statistics_statement(conditions))
    return dict(row._mapping)
