"""Helpers for relation fields: every relation goes through a per-request loader."""

from __future__ import annotations

from typing import Any, TypeVar

from scimeta.models import Base
from scimeta.schema.node import LoaderInfo

RowT = TypeVar("RowT", bound=Base)


async def one(info: LoaderInfo, model: type[RowT], row_id: int | None) -> Any:
    """The row a foreign key points at (None for a null key)."""
    if row_id is None:
        return None
    return await info.context.loaders.by_id(model).load(row_id)
