"""Relay connections over keyset pages, at the root and per parent.

A root list is one statement. A nested list (`participants(first: 5)` under each study)
is one statement for all parents, through the per-request page loader. `totalCount` is
computed only when selected, in one more statement per list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import strawberry
from sqlalchemy import ColumnElement
from strawberry import relay
from strawberry.relay.types import NodeType

from scimeta.errors import BadUserInput
from scimeta.loaders import Loaders
from scimeta.loaders.batch import LoaderSource
from scimeta.loaders.pages import PageQuery, root_count, root_page
from scimeta.models import Base
from scimeta.schema.ordering import (
    Column,
    OrderTerm,
    decode_cursor,
    encode_cursor,
    keyset_condition,
    ordering_name,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(first: int | None, last: int | None) -> int:
    """The rows of a page asked for by `first` or `last`, or BadUserInput for arguments
    no page is read with."""
    if first is not None and last is not None:
        raise BadUserInput("Pass either first or last, not both.")
    size = first if last is None else last
    if size is None:
        return DEFAULT_PAGE_SIZE
    if not 0 <= size <= MAX_PAGE_SIZE:
        name = "first" if last is None else "last"
        raise BadUserInput(
            f"{name} must be between 0 and {MAX_PAGE_SIZE}, got {size}: "
            "fetch further pages with the cursors in pageInfo.",
            maximum=MAX_PAGE_SIZE,
        )
    return size


def page_size_bound(first: int | None, last: int | None) -> int:
    """The rows a page of these arguments may return, for an estimate made before they
    are checked: `page_size`, or for arguments it refuses the larger one within bounds
    (the field's own refusal tells the client more than a cost over budget would)."""
    try:
        return page_size(first, last)
    except BadUserInput:
        return min(max(first or 0, last or 0, 0), MAX_PAGE_SIZE)


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def backward(self) -> bool:
        return self.last is not None

    def size(self) -> int:
        return page_size(self.first, self.last)


class KeysetEdge(relay.Edge[NodeType]):
    """An edge whose cursor is encoded only when a query selects it: most queries select
    only the nodes, and encoding a cursor per row is a measurable share of a big page.

    Each list's `<Entity>Edge` (`scimeta.schema.generated.connections`) is a
    `@strawberry.type` subclass: it keeps this constructor, which the dataclass
    strawberry makes of it would otherwise replace with one setting `cursor`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a class's own `__init__` is one `dataclasses.dataclass` leaves in place
        cls.__init__ = KeysetEdge.__init__  # type: ignore[method-assign]

    def __init__(self, terms: list[OrderTerm], node: NodeType) -> None:
        self.node = node
        self._terms = terms

    @property
    def cursor(self) -> str:  # type: ignore[override]  # a field in Edge, computed here
        return encode_cursor(self._terms, self.node)


@dataclass(frozen=True)
class ListScope:
    """A list: the rows of `model` matching `conditions`, under one parent or at the root.

    `fingerprint` identifies the list's field and filter, not its order or page, so that
    counts and aggregates are shared by every page and ordering of the same list.
    """

    source: LoaderSource
    loaders: Loaders
    model: type[Base]
    conditions: Sequence[ColumnElement[bool]]
    fingerprint: str
    parent_key: Column | None = None
    parent_id: int | None = None

    async def count(self) -> int:
        if self.parent_key is None or self.parent_id is None:
            return await root_count(self.source, self.model, self.conditions)
        loader = self.loaders.counts(self.model, self.parent_key, self.conditions, self.fingerprint)
        return await loader.load(self.parent_id)


@strawberry.type(description="A page of a list, with cursors to fetch the pages around it.")
class Connection(relay.Connection[NodeType]):
    """The pages `load_page` builds. Each list's `<Entity>Connection` is a subclass
    (`scimeta.schema.generated.connections`) whose `edges` are `<Entity>Edge`s, its
    `edge_class`."""

    _scope: strawberry.Private[ListScope]
    # the class of the page's edges
    edge_class: ClassVar[type[KeysetEdge[Any]]] = KeysetEdge

    @strawberry.field(description="Number of items in the whole list (all pages).")
    async def total_count(self) -> int:
        return await self._scope.count()

    @strawberry.field(description="The items of this page, without their cursors.")
    def nodes(self) -> list[NodeType]:
        return [edge.node for edge in self.edges]

    @classmethod
    def resolve_connection(cls, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("pages are built by `load_page`")


async def load_page(
    scope: ListScope,
    terms: list[OrderTerm],
    args: PageArgs,
    connection_type: type[Connection[Any]] = Connection,
    *,
    fetch: bool = True,
    deferred: Sequence[str] = (),
) -> Connection[Any]:
    """One page of `scope` in `terms` order, fetching one row more than asked to know
    whether there is a further page. Without `fetch` (the query selects no items), the
    arguments are checked but no rows are read; `deferred` columns are not read."""
    size = args.size()
    order = [term.reversed() for term in terms] if args.backward else terms
    conditions = list(scope.conditions)
    if args.after is not None:
        conditions.append(keyset_condition(terms, decode_cursor(terms, args.after)))
    if args.before is not None:
        reverse = [term.reversed() for term in terms]
        conditions.append(keyset_condition(reverse, decode_cursor(terms, args.before)))
    query = PageQuery(scope.model, conditions, [term.sql() for term in order], size + 1, deferred)
    if not fetch:
        rows = []
    elif scope.parent_key is None or scope.parent_id is None:
        rows = await root_page(scope.source, query)
    else:
        fingerprint = f"{scope.fingerprint}|{ordering_name(terms)}|{args!r}|{deferred}"
        rows = await scope.loaders.pages(scope.parent_key, query, fingerprint).load(scope.parent_id)
    more = len(rows) > size
    rows = rows[:size]
    if args.backward:
        rows.reverse()
    edge_class = connection_type.edge_class
    edges: list[relay.Edge[Any]] = [edge_class(terms, row) for row in rows]
    return connection_type(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=args.before is not None if args.backward else more,
            has_previous_page=more if args.backward else args.after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _scope=scope,
    )
