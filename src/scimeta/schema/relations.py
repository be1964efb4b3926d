"""Helpers for relation fields: every relation goes through a per-request loader, and
declares what it reads so that the planner can compile it to SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import strawberry

from scimeta.models import Base, ownership
from scimeta.schema.node import LoaderInfo

RowT = TypeVar("RowT", bound=Base)
ResolverT = TypeVar("ResolverT", bound=Callable[..., Any])


@dataclass(frozen=True)
class Relation:
    """A field that is the row of `model` whose id is the parent's `key` column, or, with
    `column`, that column of it."""

    model: type[Base]
    key: str
    column: str | None = None


@dataclass(frozen=True)
class SubjectId:
    """A field that is the global id of the node named by two of the parent's columns."""

    type_column: str
    id_column: str


@dataclass(frozen=True)
class DistinctValues:
    """A field that lists, ascending, the distinct values of `column` of the `model` rows
    whose `parent_key` is the parent's id and that meet `condition`."""

    model: type[Base]
    parent_key: str
    column: str
    condition: Callable[[], Any]


@dataclass(frozen=True)
class StatusCounts:
    """A field that counts the `model` rows whose `parent_key` is the parent's id, by
    status (`BatchProgress`)."""

    model: type[Base]
    parent_key: str


@dataclass(frozen=True)
class Figures:
    """A field whose object is the one row of `statement(conditions)`, a column per
    field (by its Python name); the conditions come from the field's `where`."""

    statement: Callable[[Sequence[Any]], Any]


Declaration = Relation | SubjectId | DistinctValues | StatusCounts | Figures


def reads(declaration: Declaration) -> Callable[[ResolverT], ResolverT]:
    """Declare what a resolver reads (under `@strawberry.field`)."""

    def declare(resolver: ResolverT) -> ResolverT:
        resolver.reads = declaration  # type: ignore[attr-defined]
        return resolver

    return declare


def related(model: type[Base], name: str, *, description: str, column: str | None = None) -> Any:
    """A field that is the row `model`'s to-one relation `name` (declared in
    `scimeta.models.ownership`) refers to, or, with `column`, that column of it. Its
    GraphQL type is the annotation it is assigned to."""
    declared = ownership.relation(model, name)
    if declared.many:
        raise ValueError(f"{model.__name__}.{name} is not a to-one relation")
    target, key = declared.target, declared.local.key

    # (no return annotation: the field's type is the class attribute's)
    @reads(Relation(target, key, column))
    async def resolve(root: strawberry.Parent[Any], info: LoaderInfo):  # type: ignore[no-untyped-def]
        row = await one(info, target, getattr(root, key))
        return row if column is None or row is None else getattr(row, column)

    resolve.__name__ = name
    return strawberry.field(resolver=resolve, description=description)


async def one(info: LoaderInfo, model: type[RowT], row_id: int | None) -> Any:
    """The row a foreign key points at (None for a null key)."""
    if row_id is None:
        return None
    return await info.context.loaders.by_id(model).load(row_id)
