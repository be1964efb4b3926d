"""`list_field`: one declaration gives a list field its connection, filter, order and pages.

Every list in the schema, at the root or under a parent, is declared with `list_field`,
so all lists take the same arguments (`where`, `orderBy`, `first`, `after`, `last`,
`before`) and go through the same batched loaders.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ForwardRef, get_args, get_origin

import strawberry
from sqlalchemy import ColumnElement
from sqlalchemy.dialects.postgresql import JSONB
from strawberry.types import Info
from strawberry.types.lazy_type import StrawberryLazyReference
from strawberry.utils.str_converters import to_camel_case

from scimeta.loaders.batch import primary_key_attribute
from scimeta.models import Base, ownership
from scimeta.schema.filters import WhereInput, where_condition
from scimeta.schema.ordering import Column, OrderTerm, order_terms
from scimeta.schema.pagination import Connection, ListScope, PageArgs, load_page
from scimeta.schema.selection import selected_node_fields, selected_subfields

_field_tokens = itertools.count()

# A connection's fields that need the page's rows; totalCount and aggregates do not.
PAGE_FIELDS = frozenset({"edges", "nodes", "pageInfo"})

First = Annotated[
    int | None,
    strawberry.argument(description="Return the first n items (default 50, at most 500)."),
]
After = Annotated[str | None, strawberry.argument(description="Return items after this cursor.")]
Last = Annotated[
    int | None,
    strawberry.argument(description="Return the last n items (at most 500)."),
]
Before = Annotated[str | None, strawberry.argument(description="Return items before this cursor.")]


def list_field(
    node: Any,
    rows: type[Base] | ownership.Relation,
    *,
    where: type[WhereInput],
    order: type[Any],
    default_order: Sequence[OrderTerm] = (),
    parent_key: Column | None = None,
    fixed: Callable[[], Sequence[ColumnElement[bool]]] | None = None,
    connection: Any = None,
    description: str,
) -> Any:
    """A connection field over rows: under a parent, those of a to-many relation declared
    in `scimeta.models.ownership` (`rows`, e.g. `relation(models.Study, "participants")`);
    at the root, every row of the model `rows`; in either case those that satisfy
    `fixed()` and the client's `where`. (`parent_key` names the parent's id column where
    no relation is declared: the events about a node.)

    `node` is the GraphQL type of an item (a lazy annotation works), `where` and `order`
    its `<Entity>Where` and `<Entity>Order` inputs, and `connection` its
    `<Entity>Connection` (`scimeta.schema.generated.connections`: a `Connection` whose
    edges are the entity's `<Entity>Edge`, with the aggregates if the list has them).
    Without one, the list's types are those strawberry names from `Connection[node]`,
    which are no class of the source: every list of the schema names its connection.
    """
    if isinstance(rows, ownership.Relation):
        if not rows.many:
            raise ValueError(f"{rows.model.__name__}.{rows.name} is not a to-many relation")
        model, parent_key = rows.target, rows.remote
    else:
        model = rows
    key = primary_key_attribute(model)
    default = list(default_order)
    connection_type = connection or Connection[node]
    runtime_type: list[Any] = []
    # Lists over the same parent key may differ in their fixed conditions: their loaders
    # must not be shared.
    field_token = next(_field_tokens)
    large_columns = _large_columns(model)
    spec = ListSpec(
        model=model,
        where=where,
        default_order=tuple(default),
        key=key,
        parent_key=parent_key,
        fixed=fixed,
    )

    async def resolve_list(
        info: Info[Any, Any], parent_id: int | None, where_: Any, order_by: Any, args: PageArgs
    ) -> Any:
        context = info.context
        scope = ListScope(
            source=context,
            loaders=context.loaders,
            model=model,
            conditions=spec.conditions(where_),
            fingerprint=f"{field_token}|{where_!r}",
            parent_key=parent_key,
            parent_id=parent_id,
        )
        terms = spec.terms(order_by)
        if not runtime_type:
            runtime_type.append(_runtime_class(connection_type))
        fetch = not PAGE_FIELDS.isdisjoint(selected_subfields(info))
        selected = selected_node_fields(info) if fetch else set()
        deferred = [column for column, name in large_columns if name not in selected]
        return await load_page(scope, terms, args, runtime_type[0], fetch=fetch, deferred=deferred)

    async def resolve_root(
        info: Info[Any, Any],
        where_: Any = None,
        order_by: Any = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Any:
        args = PageArgs(first=first, after=after, last=last, before=before)
        return await resolve_list(info, None, where_, order_by, args)

    async def resolve_nested(
        root: Any,
        info: Info[Any, Any],
        where_: Any = None,
        order_by: Any = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Any:
        args = PageArgs(first=first, after=after, last=last, before=before)
        return await resolve_list(info, root.id, where_, order_by, args)

    resolve = resolve_root if parent_key is None else resolve_nested
    resolve.__annotations__ = {
        "root": strawberry.Parent[Any],  # type: ignore[misc]
        "info": Info,
        "where_": Annotated[
            where | None,
            strawberry.argument(name="where", description="Only items that match all conditions."),
        ],
        "order_by": Annotated[
            list[order] | None,  # type: ignore[valid-type]
            strawberry.argument(
                description="Sort keys, most significant first; ties are broken by id."
            ),
        ],
        "first": First,
        "after": After,
        "last": Last,
        "before": Before,
        "return": connection_type,
    }
    field = strawberry.field(resolver=resolve, description=description)
    field.list_spec = spec
    return field


@dataclass(frozen=True)
class ListSpec:
    """What a list field reads, for the planner: the same declaration its resolver uses."""

    model: type[Base]
    where: type[WhereInput]
    default_order: tuple[OrderTerm, ...]
    key: Column
    parent_key: Column | None
    fixed: Callable[[], Sequence[ColumnElement[bool]]] | None

    def terms(self, order_by: list[Any] | None) -> list[OrderTerm]:
        return order_terms(self.model, order_by, list(self.default_order), self.key)

    def conditions(self, where: Any) -> list[ColumnElement[bool]]:
        return [*(self.fixed() if self.fixed else ()), *where_condition(where)]


def _runtime_class(annotation: Any) -> Any:
    """The class a (possibly lazy) type annotation names, to build instances of it."""
    if get_origin(annotation) is not Annotated:
        return annotation
    reference, *metadata = get_args(annotation)
    (lazy,) = (item for item in metadata if isinstance(item, StrawberryLazyReference))
    name = reference.__forward_arg__ if isinstance(reference, ForwardRef) else reference
    return getattr(importlib.import_module(lazy.module), name)


def _large_columns(model: type[Base]) -> list[tuple[str, str]]:
    """The JSON columns of `model` (attribute name, GraphQL field name): decoding them is
    a large part of reading a row, so a page reads them only when they are selected."""
    return [
        (attribute.key, to_camel_case(attribute.key))
        for attribute in model.__mapper__.column_attrs
        if isinstance(attribute.columns[0].type, JSONB)
    ]
