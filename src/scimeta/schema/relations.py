"""Helpers for relation fields: every relation goes through a per-request loader."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from scimeta.models import Base
from scimeta.schema.node import LoaderInfo

RowT = TypeVar("RowT", bound=Base)


async def one(info: LoaderInfo, model: type[RowT], row_id: int | None) -> Any:
    """The row a foreign key points at (None for a null key)."""
    if row_id is None:
        return None
    return await info.context.loaders.by_id(model).load(row_id)


async def many(
    info: LoaderInfo,
    model: type[RowT],
    parent_key: InstrumentedAttribute[Any],
    parent_id: int,
    *order_by: InstrumentedAttribute[Any] | ColumnElement[Any],
    where: Sequence[ColumnElement[bool]] = (),
    variant: str = "",
) -> Any:
    """The rows whose `parent_key` is `parent_id`, batched across parents."""
    loader = info.context.loaders.children(model, parent_key, order_by, where, variant)
    return await loader.load(parent_id)


async def events(info: LoaderInfo, subject_type: str, subject_id: int) -> Any:
    return await info.context.loaders.events_about(subject_type).load(subject_id)
