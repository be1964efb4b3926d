"""Aggregates over a whole list: counts, number statistics and time ranges, optionally
grouped by enum or relation fields.

A list's connection gets `aggregate` (one group: the whole list) and `groups(by: [...])`.
Only the measures the query selects are computed, all in one statement per list (and
one statement for all parents of a nested list).

The types of a list's aggregates (`<Entity>Aggregate`, `<Entity>Group`,
`<Entity>GroupKey`, `<Entity>GroupBy`), its `AggregateSpec` and its connection's two
fields are written by `python -m scimeta.schema.generate` in
`scimeta.schema.generated.aggregates`, from `scimeta.schema.inputs.specs`; what they
compute is here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import ColumnElement, func
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from scimeta.loaders.pages import AggregateQuery, AggregateRow, root_aggregate
from scimeta.models import Base
from scimeta.schema.ordering import Column
from scimeta.schema.pagination import Connection
from scimeta.schema.selection import selected_subfields


@strawberry.type(description="Statistics of a numeric field; null where there are no values.")
class NumberStats:
    min: float | None = strawberry.field(description="Smallest value.")
    max: float | None = strawberry.field(description="Largest value.")
    avg: float | None = strawberry.field(description="Mean value.")
    sum: float | None = strawberry.field(description="Sum of the values.")
    median: float | None = strawberry.field(description="Median (interpolated).")
    count: int = strawberry.field(description="Number of rows with a value (not null).")


@strawberry.type(description="The range of a time field; null where there are no values.")
class TimeStats:
    min: datetime | None = strawberry.field(description="Earliest time.")
    max: datetime | None = strawberry.field(description="Latest time.")


NUMBER_MEASURES: dict[str, Callable[[Column], ColumnElement[Any]]] = {
    "min": func.min,
    "max": func.max,
    "avg": func.avg,
    "sum": func.sum,
    "median": lambda column: func.percentile_cont(0.5).within_group(column),
    "count": func.count,
}
TIME_MEASURES: dict[str, Callable[[Column], ColumnElement[Any]]] = {
    "min": func.min,
    "max": func.max,
}


@dataclass(frozen=True)
class GroupField:
    """A field rows can be grouped by: a column, or with `model`, a foreign key to `model`
    whose group key is the related node."""

    column: Column
    model: type[Base] | None = None


@dataclass(frozen=True)
class Group:
    """One group of a list's rows: the values of the fields grouped by (`key`, by field
    name) and the measures (`values`: `count`, and `<field>.<stat>` as selected)."""

    key: dict[str, Any]
    values: dict[str, Any]

    def count(self) -> int:
        return int(self.values["count"])

    def number_stats(self, name: str) -> NumberStats:
        return NumberStats(**self._stats(name, NUMBER_MEASURES))

    def time_stats(self, name: str) -> TimeStats:
        return TimeStats(**self._stats(name, TIME_MEASURES))

    def value(self, name: str) -> Any:
        """The group's value of the field `name` (None when not grouped by it): a column's
        value, or the related row's id."""
        return self.key.get(name)

    def _stats(self, name: str, measures: dict[str, Any]) -> dict[str, Any]:
        return {stat: _plain(self.values.get(f"{name}.{stat}")) for stat in measures}


@dataclass
class AggregateSpec:
    """What can be aggregated over a list of `noun`s: numeric and time columns by field
    name, and group fields by `<Name>GroupBy` enum name (STATUS -> status)."""

    name: str
    noun: str
    model: type[Base]
    numbers: dict[str, Column] = field(default_factory=dict)
    times: dict[str, Column] = field(default_factory=dict)
    groups: dict[str, tuple[str, GroupField]] = field(default_factory=dict)

    async def whole(self, connection: Connection[Any], info: Info[Any, Any]) -> Group:
        """The aggregates over the connection's whole list."""
        (group,) = await self.grouped(connection, info, [])
        return group

    async def grouped(
        self, connection: Connection[Any], info: Info[Any, Any], by: Sequence[Enum]
    ) -> list[Group]:
        """The aggregates per distinct value of the `by` fields (`<Name>GroupBy` members)
        over the connection's list, ordered by those values."""
        scope = connection._scope
        selected = selected_subfields(info)
        measures = self._measures(selected)
        fields = [self.groups[item.name] for item in by]
        query = AggregateQuery(
            model=scope.model,
            conditions=scope.conditions,
            group_by=[group_field.column for _, group_field in fields],
            measures=measures,
        )
        rows: list[AggregateRow]
        if scope.parent_key is None or scope.parent_id is None:
            rows = await root_aggregate(scope.source, query)
        else:
            fingerprint = f"{scope.fingerprint}|{[item.name for item in by]}|{sorted(measures)}"
            loader = scope.loaders.aggregates(scope.parent_key, query, fingerprint)
            rows = await loader.load(scope.parent_id)
        if not rows and not by:
            rows = [AggregateRow(key=(), values=_empty(measures))]
        names = [name for name, _ in fields]
        return [Group(dict(zip(names, row.key, strict=True)), row.values) for row in rows]

    def _measures(self, selected: dict[str, set[str]]) -> dict[str, ColumnElement[Any]]:
        measures: dict[str, ColumnElement[Any]] = {"count": func.count()}
        for name, column in self.numbers.items():
            for stat in selected.get(to_camel_case(name), set()) & set(NUMBER_MEASURES):
                measures[f"{name}.{stat}"] = NUMBER_MEASURES[stat](column)
        for name, column in self.times.items():
            for stat in selected.get(to_camel_case(name), set()) & set(TIME_MEASURES):
                measures[f"{name}.{stat}"] = TIME_MEASURES[stat](column)
        return measures


def aggregate_field(
    spec: AggregateSpec, *, description: str
) -> Callable[[Callable[..., Any]], Any]:
    """The connection field of a resolver of `aggregate` or `groups` over `spec`'s list,
    marked with `spec` for the planner, which compiles the field to SQL from it."""

    def declare(resolver: Callable[..., Any]) -> Any:
        made = strawberry.field(resolver=resolver, description=description)
        made.aggregate_spec = spec
        return made

    return declare


def _empty(measures: dict[str, Any]) -> dict[str, Any]:
    return {name: 0 if name.endswith("count") else None for name in measures}


def _plain(value: Any) -> Any:
    """Numeric aggregates come back as Decimal for integer columns."""
    return float(value) if value is not None and not isinstance(value, datetime | int) else value
