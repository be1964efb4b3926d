"""Batch functions for lists: one page per parent, counts per parent, aggregates per parent.

A nested page is per parent (`first: 5` under ten studies is five participants of each
study) yet costs one statement for all parents: a LATERAL subquery runs the page query
once per parent id, each using the parent-key index with its own LIMIT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import InstrumentedAttribute, aliased, defer

from scimeta.loaders.batch import LoaderSource, execute, key_array, key_in
from scimeta.models import Base

Column = InstrumentedAttribute[Any]


@dataclass(frozen=True)
class PageQuery:
    """What one page of a list asks for, in database terms.

    `order` is the full ordering with its tie-break, already reversed for backward pages;
    `conditions` include the filter and the cursor's keyset condition.
    """

    model: type[Base]
    conditions: Sequence[ColumnElement[bool]]
    order: Sequence[ColumnElement[Any]]
    limit: int
    deferred: Sequence[str] = ()

    def options(self, entity: Any) -> list[Any]:
        """Leave the `deferred` columns (large JSON nobody selected) unread."""
        return [defer(getattr(entity, name), raiseload=True) for name in self.deferred]


async def root_page(source: LoaderSource, query: PageQuery) -> list[Any]:
    statement = (
        select(query.model)
        .options(*query.options(query.model))
        .where(*query.conditions)
        .order_by(*query.order)
        .limit(query.limit)
    )
    return [row for (row,) in await execute(source, statement)]


# the column of a lateral page holding each row's place in it
PLACE = "place_in_page"


def _parent_ids(keys: Sequence[int]) -> Any:
    """`unnest(:ids) AS parent(id)`: the batch's parent keys as a table."""
    return func.unnest(key_array(keys)).table_valued("id").render_derived(name="parent")


async def pages_by_parent(
    source: LoaderSource, query: PageQuery, parent_key: Column, keys: Sequence[int]
) -> list[list[Any]]:
    parent = _parent_ids(keys)
    page = (
        select(query.model)
        # each row's place in its page: the outer statement sorts by it, since the order
        # of a lateral join's rows is the plan's, which a visibility condition can change
        .add_columns(func.row_number().over(order_by=query.order).label(PLACE))
        .where(parent_key == parent.c.id, *query.conditions)
        .order_by(*query.order)
        .limit(query.limit)
        .lateral("page")
    )
    row_type = aliased(query.model, page)
    statement = (
        select(row_type)
        .options(*query.options(row_type))
        .select_from(parent)
        .join(page, true())
        .order_by(page.c[PLACE])
    )
    groups: defaultdict[int, list[Any]] = defaultdict(list)
    for (row,) in await execute(source, statement):
        groups[getattr(row, parent_key.key)].append(row)
    return [groups.get(key, []) for key in keys]


async def root_count(
    source: LoaderSource, model: type[Base], conditions: Sequence[ColumnElement[bool]]
) -> int:
    statement = select(func.count()).select_from(model).where(*conditions)
    ((count,),) = await execute(source, statement)
    return int(count)


async def counts_by_parent(
    source: LoaderSource,
    model: type[Base],
    conditions: Sequence[ColumnElement[bool]],
    parent_key: Column,
    keys: Sequence[int],
) -> list[int]:
    statement = (
        select(parent_key, func.count())
        .where(key_in(parent_key, keys), *conditions)
        .group_by(parent_key)
    )
    counts = {key: int(count) for key, count in await execute(source, statement)}
    return [counts.get(key, 0) for key in keys]


@dataclass(frozen=True)
class AggregateQuery:
    """Grouped aggregates: `group_by` columns, and named measure expressions such as
    `avg(energy)`, all computed in one statement."""

    model: type[Base]
    conditions: Sequence[ColumnElement[bool]]
    group_by: Sequence[ColumnElement[Any] | Column]
    measures: dict[str, ColumnElement[Any]]


@dataclass(frozen=True)
class AggregateRow:
    """One group: its key values (in `group_by` order) and its measures by name."""

    key: tuple[Any, ...]
    values: dict[str, Any]


def _aggregate_statement(query: AggregateQuery, *leading: ColumnElement[Any] | Column) -> Any:
    columns = [*leading, *query.group_by]
    measures = [expression.label(name) for name, expression in query.measures.items()]
    return (
        select(*columns, *measures)
        .select_from(query.model)
        .where(*query.conditions)
        .group_by(*columns)
        .order_by(*columns)
    )


def _aggregate_rows(rows: Sequence[Any], query: AggregateQuery, skip: int) -> list[AggregateRow]:
    width = len(query.group_by)
    names = list(query.measures)
    return [
        AggregateRow(
            key=tuple(row[skip : skip + width]),
            values=dict(zip(names, row[skip + width :], strict=True)),
        )
        for row in rows
    ]


async def root_aggregate(source: LoaderSource, query: AggregateQuery) -> list[AggregateRow]:
    return _aggregate_rows(await execute(source, _aggregate_statement(query)), query, 0)


async def aggregates_by_parent(
    source: LoaderSource, query: AggregateQuery, parent_key: Column, keys: Sequence[int]
) -> list[list[AggregateRow]]:
    statement = _aggregate_statement(query, parent_key).where(key_in(parent_key, keys))
    by_parent: defaultdict[int, list[Any]] = defaultdict(list)
    for row in await execute(source, statement):
        by_parent[row[0]].append(row)
    return [_aggregate_rows(by_parent.get(key, []), query, 1) for key in keys]
