"""Aggregates over a whole list: counts, number statistics and time ranges, optionally
grouped by enum or relation fields.

A list's connection gets `aggregate` (one group: the whole list) and `groups(by: [...])`.
Only the measures the query selects are computed, all in one statement per list (and
one statement for all parents of a nested list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
from scimeta.schema.pagination import ListScope
from scimeta.schema.relations import one
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
    """A field rows can be grouped by. With `model`, the column is a foreign key and the
    group's key shows the related node (of GraphQL type `annotation`)."""

    column: Column
    annotation: Any
    model: type[Base] | None = None


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]
    values: dict[str, Any]


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


class Aggregates:
    """The GraphQL types of one `AggregateSpec`, and the connection fields using them."""

    def __init__(self, spec: AggregateSpec) -> None:
        self.spec = spec
        self.group_by = self._group_by_enum()
        self.key_type = self._key_type()
        self.aggregate_type = self._aggregate_type()
        self.group_type = self._group_type()

    def aggregate_field(self) -> Any:
        spec = self.spec

        async def resolve(root: Any, info: Info[Any, Any]) -> Any:
            (group,) = await self._groups(root._scope, info, [])
            return group

        resolve.__annotations__ = {
            "root": strawberry.Parent[Any],  # type: ignore[misc]
            "info": Info,
            "return": self.aggregate_type,
        }
        field = strawberry.field(
            resolver=resolve, description=f"Aggregates over all {spec.noun}s of the list."
        )
        field.aggregate_spec = spec
        return field

    def groups_field(self) -> Any:
        spec = self.spec

        async def resolve(root: Any, info: Info[Any, Any], by: list[Any]) -> Any:
            return await self._groups(root._scope, info, by)

        resolve.__annotations__ = {
            "root": strawberry.Parent[Any],  # type: ignore[misc]
            "info": Info,
            "by": list[self.group_by],  # type: ignore[name-defined]
            "return": list[self.group_type],  # type: ignore[name-defined]
        }
        field = strawberry.field(
            resolver=resolve,
            description=f"Aggregates of the list's {spec.noun}s per distinct value of the "
            "`by` fields, ordered by those values.",
        )
        field.aggregate_spec = spec
        return field

    async def _groups(self, scope: ListScope, info: Info[Any, Any], by: list[Any]) -> list[Group]:
        selected = selected_subfields(info)
        measures = self._measures(selected)
        fields = [self.spec.groups[item.name] for item in by]
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
            rows = [AggregateRow(key=(), values=self._empty(measures))]
        names = [name for name, _ in fields]
        return [Group(dict(zip(names, row.key, strict=True)), row.values) for row in rows]

    def _measures(self, selected: dict[str, set[str]]) -> dict[str, ColumnElement[Any]]:
        measures: dict[str, ColumnElement[Any]] = {"count": func.count()}
        for name, column in self.spec.numbers.items():
            for stat in selected.get(to_camel_case(name), set()) & set(NUMBER_MEASURES):
                measures[f"{name}.{stat}"] = NUMBER_MEASURES[stat](column)
        for name, column in self.spec.times.items():
            for stat in selected.get(to_camel_case(name), set()) & set(TIME_MEASURES):
                measures[f"{name}.{stat}"] = TIME_MEASURES[stat](column)
        return measures

    @staticmethod
    def _empty(measures: dict[str, Any]) -> dict[str, Any]:
        return {name: 0 if name.endswith("count") else None for name in measures}

    def _group_by_enum(self) -> type[Enum]:
        spec = self.spec
        members = {enum_name: name for enum_name, (name, _) in spec.groups.items()}
        group_by = Enum(f"{spec.name}GroupBy", members)  # type: ignore[misc]
        strawberry.enum(group_by, description=f"Fields {spec.noun}s can be grouped by.")
        return group_by

    def _key_type(self) -> type[Any]:
        spec = self.spec
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {"__annotations__": annotations}
        for name, group_field in spec.groups.values():
            namespace[name] = strawberry.field(
                resolver=_key_resolver(name, group_field),
                description=f"The group's {name.replace('_', ' ')} (null when not grouped by it).",
            )
        return strawberry.type(
            type(f"{spec.name}GroupKey", (), namespace),
            description=f"The values a group of {spec.noun}s shares.",
        )

    def _aggregate_type(self) -> type[Any]:
        spec = self.spec
        namespace: dict[str, Any] = {
            "count": strawberry.field(
                resolver=_count_resolver, description=f"Number of {spec.noun}s."
            )
        }
        for name in spec.numbers:
            namespace[name] = strawberry.field(
                resolver=_stats_resolver(name, NumberStats, NUMBER_MEASURES),
                description=f"Statistics of the {name.replace('_', ' ')}.",
            )
        for name in spec.times:
            namespace[name] = strawberry.field(
                resolver=_stats_resolver(name, TimeStats, TIME_MEASURES),
                description=f"Range of the {name.replace('_', ' ')}.",
            )
        return strawberry.type(
            type(f"{spec.name}Aggregate", (), namespace),
            description=f"Aggregates over {spec.noun}s.",
        )

    def _group_type(self) -> type[Any]:
        spec = self.spec
        key_type = self.key_type

        def key(root: strawberry.Parent[Group]) -> Any:
            return root

        key.__annotations__ = {"root": strawberry.Parent[Group], "return": key_type}
        namespace = {
            "key": strawberry.field(resolver=key, description="The values the group shares.")
        }
        return strawberry.type(
            type(f"{spec.name}Group", (self.aggregate_type,), namespace),
            description=f"Aggregates over a group of {spec.noun}s.",
        )


def _count_resolver(root: strawberry.Parent[Group]) -> int:
    return int(root.values["count"])


def _stats_resolver(
    name: str, stats_type: type[Any], measures: Iterable[str]
) -> Callable[..., Any]:
    def resolve(root: strawberry.Parent[Group]) -> Any:
        return stats_type(**{stat: _plain(root.values.get(f"{name}.{stat}")) for stat in measures})

    resolve.__annotations__ = {"root": strawberry.Parent[Group], "return": stats_type}
    return resolve


def _plain(value: Any) -> Any:
    """Numeric aggregates come back as Decimal for integer columns."""
    return float(value) if value is not None and not isinstance(value, datetime | int) else value


def _key_resolver(name: str, group_field: GroupField) -> Callable[..., Any]:
    model = group_field.model
    if model is None:

        def resolve_value(root: strawberry.Parent[Group]) -> Any:
            return root.key.get(name)

        resolve_value.__annotations__ = {
            "root": strawberry.Parent[Group],
            "return": group_field.annotation | None,
        }
        return resolve_value

    async def resolve_node(root: strawberry.Parent[Group], info: Info[Any, Any]) -> Any:
        return await one(info, model, root.key.get(name))

    resolve_node.__annotations__ = {
        "root": strawberry.Parent[Group],
        "info": Info,
        "return": group_field.annotation | None,
    }
    return resolve_node
