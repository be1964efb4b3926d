"""Helpers for relation fields: every relation goes through a per-request loader, and
declares what it reads so that the planner can compile it to SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from scimeta.models import Base
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


def reads(declaration: Relation | SubjectId) -> Callable[[ResolverT], ResolverT]:
    """Declare what a resolver reads (under `@strawberry.field`)."""

    def declare(resolver: ResolverT) -> ResolverT:
        resolver.reads = declaration  # type: ignore[attr-defined]
        return resolver

    return declare


async def one(info: LoaderInfo, model: type[RowT], row_id: int | None) -> Any:
    """The row a foreign key points at (None for a null key)."""
    if row_id is None:
        return None
    return await info.context.loaders.by_id(model).load(row_id)
