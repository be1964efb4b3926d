"""Relay connections with keyset cursors: a page is `id > after`, never an offset, so a
cursor stays valid when rows are inserted before it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import strawberry
from sqlalchemy import ColumnElement, func, select
from strawberry import relay
from strawberry.relay.types import NodeType

from scimeta.errors import BadUserInput
from scimeta.loaders.batch import LoaderSource, execute, primary_key_attribute
from scimeta.models import Base

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_CURSOR_PREFIX = "cursor:"


def encode_cursor(row_id: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        if text.startswith(_CURSOR_PREFIX):
            return int(text.removeprefix(_CURSOR_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadUserInput(f"Invalid cursor {cursor!r}: pass a cursor this API returned.")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(
            f"first must be between 0 and {MAX_PAGE_SIZE}, got {first}.",
            maximum=MAX_PAGE_SIZE,
        )
    return first


@strawberry.type(description="A page of a list, with cursors to fetch the next one.")
class Connection(relay.Connection[NodeType]):
    _source: strawberry.Private[LoaderSource]
    _model: strawberry.Private[type[Base]]
    _where: strawberry.Private[Sequence[ColumnElement[bool]]]

    @strawberry.field(description="Number of items in the whole list (all pages).")
    async def total_count(self) -> int:
        statement = select(func.count()).select_from(self._model).where(*self._where)
        ((count,),) = await execute(self._source, statement)
        return int(count)

    @classmethod
    def resolve_connection(cls, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("pages are built by `keyset_page`")


async def keyset_page(
    source: LoaderSource,
    model: type[Base],
    *,
    first: int | None,
    after: str | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Connection[Any]:
    """One page of `model` rows in id order, fetching one row more to know if there is a
    next page."""
    limit = page_size(first)
    key = primary_key_attribute(model)
    conditions = list(where)
    if after is not None:
        conditions.append(key > decode_cursor(after))
    statement = select(model).where(*conditions).order_by(key).limit(limit + 1)
    rows = [row for (row,) in await execute(source, statement)]
    has_next = len(rows) > limit
    rows = rows[:limit]
    edges = [relay.Edge(cursor=encode_cursor(getattr(row, key.key)), node=row) for row in rows]
    return Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _source=source,
        _model=model,
        _where=list(where),
    )
