"""`list_field`: one declaration gives a list field its connection, filter, order and pages.

Every list in the schema, at the root or under a parent, is declared with `list_field`,
so all lists take the same arguments (`where`, `orderBy`, `first`, `after`, `last`,
`before`) and go through the same batched loaders.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ForwardRef, get_args, get_origin, get_type_hints

import strawberry
from sqlalchemy import ColumnElement
from sqlalchemy.dialects.postgresql import JSONB
from strawberry.annotation import StrawberryAnnotation
from strawberry.types import Info
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.lazy_type import StrawberryLazyReference
from strawberry.utils.str_converters import to_camel_case

from scimeta.loaders.batch import primary_key_attribute
from scimeta.models import Base, ownership
from scimeta.schema.filters import WhereInput, where_condition
from scimeta.schema.ordering import Column, OrderTerm, order_terms
from scimeta.schema.pagination import Connection, ListScope, PageArgs, load_page
from scimeta.schema.selection import selected_node_fields, selected_subfields
from scimeta.strawberry_internals import DEFINITION, resolve_info

_field_tokens = itertools.count()

# A connection's fields that need the page's rows; totalCount and aggregates do not.
PAGE_FIELDS = frozenset({"edges", "nodes", "pageInfo"})

WHERE_DESCRIPTION = "Only items that match all conditions."
ORDER_DESCRIPTION = "Sort keys, most significant first; ties are broken by id."
FIRST_DESCRIPTION = "Return the first n items (default 50, at most 500)."
AFTER_DESCRIPTION = "Return items after this cursor."
LAST_DESCRIPTION = "Return the last n items (at most 500)."
BEFORE_DESCRIPTION = "Return items before this cursor."

First = Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)]
After = Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)]
Last = Annotated[int | None, strawberry.argument(description=LAST_DESCRIPTION)]
Before = Annotated[str | None, strawberry.argument(description=BEFORE_DESCRIPTION)]


def list_field(
    node: Any,
    rows: type[Base] | ownership.Relation,
    *,
    resolver: Callable[..., Awaitable[Any]] | None = None,
    where: type[WhereInput] | None = None,
    order: type[Any] | None = None,
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

    `node` is the GraphQL type of an item (a lazy annotation works) and `resolver` the
    entity's `<entity>_list` of `scimeta.schema.generated.lists`: its signature holds the
    list's arguments, `where_: <Entity>Where` (named `where`), `order_by: [<Entity>Order]`
    and the page arguments, and it returns the entity's `<Entity>Connection`
    (`scimeta.schema.generated.connections`); its body hands them to `read_page`.

    An entity added without regenerating those modules has no `<entity>_list`: its list
    names its `where` and `order` inputs instead, and has the same arguments, built by
    `list_arguments`, with the types strawberry names from `Connection[node]` (which are
    no class of the source: every list of the schema has its generated resolver).
    """
    if isinstance(rows, ownership.Relation):
        if not rows.many:
            raise ValueError(f"{rows.model.__name__}.{rows.name} is not a to-many relation")
        model, parent_key = rows.target, rows.remote
    else:
        model = rows
    if resolver is not None:
        if where is not None or order is not None or connection is not None:
            raise ValueError("a list with a resolver takes its inputs and connection from it")
        where, order, connection = resolver_types(resolver)
    if where is None or order is None:
        raise ValueError("a list without a resolver names its where and order inputs")
    connection_type = connection or Connection[node]
    pages = ListPages(
        spec=ListSpec(
            model=model,
            where=where,
            default_order=tuple(default_order),
            key=primary_key_attribute(model),
            parent_key=parent_key,
            fixed=fixed,
        ),
        connection=connection_type,
    )
    if resolver is not None:
        field = strawberry.field(resolver=resolver, description=description)
    else:
        field = strawberry.field(
            resolver=any_list, graphql_type=connection_type, description=description
        )
        field.arguments = list_arguments(where, order)
    field.list_spec = pages.spec
    field.list_pages = pages
    return field


async def read_page(
    root: Any, info: Info[Any, Any], where: Any, order_by: Any, args: PageArgs
) -> Any:
    """The page of the list field `info` resolves: under `root` if the list has a parent,
    of the rows that match `where`, sorted by `order_by`. Every list's resolver ends here."""
    raw = resolve_info(info)
    definition = raw.parent_type.fields[raw.field_name].extensions[DEFINITION]
    pages: ListPages = definition.list_pages
    return await pages.read(root, info, where, order_by, args)


async def any_list(
    root: Any,
    info: Info[Any, Any],
    where_: Any = None,
    order_by: Any = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Any:
    """The resolver of a list without a generated one; `list_arguments` types its arguments."""
    args = PageArgs(first=first, after=after, last=last, before=before)
    return await read_page(root, info, where_, order_by, args)


def list_arguments(where: type[WhereInput], order: type[Any]) -> list[StrawberryArgument]:
    """The arguments of a list whose filter is `where` and sort key `order`, as the
    generated resolvers declare them, for a list without one (`any_list`)."""

    def argument(
        name: str, annotation: Any, description: str, graphql_name: str | None = None
    ) -> StrawberryArgument:
        return StrawberryArgument(
            python_name=name,
            graphql_name=graphql_name,
            type_annotation=StrawberryAnnotation(annotation),
            default=None,
            description=description,
        )

    return [
        argument("where_", where | None, WHERE_DESCRIPTION, "where"),
        argument("order_by", list[order] | None, ORDER_DESCRIPTION),  # type: ignore[valid-type]
        argument("first", int | None, FIRST_DESCRIPTION),
        argument("after", str | None, AFTER_DESCRIPTION),
        argument("last", int | None, LAST_DESCRIPTION),
        argument("before", str | None, BEFORE_DESCRIPTION),
    ]


def resolver_types(resolver: Callable[..., Any]) -> tuple[type[WhereInput], type[Any], Any]:
    """The `where` input, the `order` input and the connection of a generated list
    resolver, from its signature."""
    hints = get_type_hints(resolver)
    (where,) = (item for item in get_args(hints["where_"]) if item is not type(None))
    (order_list,) = (item for item in get_args(hints["order_by"]) if item is not type(None))
    (order,) = get_args(order_list)
    return where, order, hints["return"]


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


class ListPages:
    """How a list field reads its pages: its `ListSpec`, its connection type, and the
    JSON columns it reads only when they are selected."""

    def __init__(self, spec: ListSpec, connection: Any) -> None:
        self.spec = spec
        self.connection = connection
        # Lists over the same parent key may differ in their fixed conditions: their
        # loaders must not be shared.
        self.token = next(_field_tokens)
        self.large_columns = _large_columns(spec.model)
        self.runtime_type: Any = None

    async def read(
        self, root: Any, info: Info[Any, Any], where: Any, order_by: Any, args: PageArgs
    ) -> Any:
        spec = self.spec
        context = info.context
        scope = ListScope(
            source=context,
            loaders=context.loaders,
            model=spec.model,
            conditions=spec.conditions(where),
            fingerprint=f"{self.token}|{where!r}",
            parent_key=spec.parent_key,
            parent_id=None if spec.parent_key is None else root.id,
        )
        terms = spec.terms(order_by)
        if self.runtime_type is None:
            self.runtime_type = _runtime_class(self.connection)
        fetch = not PAGE_FIELDS.isdisjoint(selected_subfields(info))
        selected = selected_node_fields(info) if fetch else set()
        deferred = [column for column, name in self.large_columns if name not in selected]
        return await load_page(
            scope, terms, args, self.runtime_type, fetch=fetch, deferred=deferred
        )


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
