"""Batch functions shared by every loader: rows by key, and rows grouped by a parent key.

Each function issues exactly one SQL statement for a whole batch of keys and returns its
results aligned with the keys, as DataLoader requires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Executable, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from scimeta.models import Base

RowT = TypeVar("RowT", bound=Base)


class LoaderSource(Protocol):
    """Where loaders get their database session. Sibling GraphQL fields resolve
    concurrently and one `AsyncSession` must not be used by two tasks at once: every
    statement runs under `db_lock`."""

    @property
    def session(self) -> AsyncSession: ...

    @property
    def db_lock(self) -> asyncio.Lock: ...


def key_array(keys: Sequence[int]) -> ColumnElement[Any]:
    """A batch's keys as one `bigint[]` parameter, so the statement's text (and its
    prepared statement) is the same for any number of keys, unlike `IN (...)`."""
    return literal(list(keys), ARRAY(BigInteger))


def key_in(column: InstrumentedAttribute[Any], keys: Sequence[int]) -> ColumnElement[bool]:
    """`column = ANY(:keys)`."""
    return column == any_(key_array(keys))


def primary_key_attribute(model: type[Base]) -> InstrumentedAttribute[Any]:
    """The mapped attribute of a model's (single-column) primary key."""
    (attribute,) = model.__mapper__.primary_key
    attribute_name = model.__mapper__.get_property_by_column(attribute).key
    result: InstrumentedAttribute[Any] = getattr(model, attribute_name)
    return result


async def execute(source: LoaderSource, statement: Executable) -> Sequence[Any]:
    """Run `statement` to its end even if the resolver awaiting it is cancelled (GraphQL
    cancels the siblings of a field whose error nulled their parent): a statement cut off
    mid-flight leaves its connection in an unknown state, and the pool must throw it
    away. The operation's end waits for it through `db_lock`."""
    task = asyncio.ensure_future(_execute(source, statement))
    # an error nobody awaits any more is not worth a warning
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.shield(task)


async def _execute(source: LoaderSource, statement: Executable) -> Sequence[Any]:
    async with source.db_lock:
        result = await source.session.execute(statement)
        rows: Sequence[Any] = result.all()
    return rows


async def rows_by_key(
    source: LoaderSource,
    model: type[RowT],
    key: InstrumentedAttribute[Any],
    keys: Sequence[Any],
) -> list[RowT | None]:
    rows = await execute(source, select(model).where(key_in(key, keys)))
    by_key = {getattr(row, key.key): row for (row,) in rows}
    return [by_key.get(k) for k in keys]
