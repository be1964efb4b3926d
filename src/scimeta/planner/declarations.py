"""What the planner reads from the schema and the models: the declarations of fields
(`ListSpec`, `@reads`), the model behind a type, and the tables' columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLField
from sqlalchemy import ColumnElement, FromClause, Table
from sqlalchemy.orm import ColumnProperty

from scimeta import models
from scimeta.schema.ordering import OrderTerm
from scimeta.strawberry_internals import DEFINITION

from .selections import NotCompilable

TABLES: dict[Any, type[models.Base]] = {
    mapper.class_.__table__: mapper.class_ for mapper in models.Base.registry.mappers
}


def labelled(table: Table, names: Iterable[str]) -> list[ColumnElement[Any]]:
    """The named columns of `table`, labelled: a subquery's copy of a label is cheaper to
    make than a copy of a table column with its foreign keys."""
    return [table.c[name].label(name) for name in sorted(names)]


def ordering_on(rows: FromClause, term: OrderTerm) -> ColumnElement[Any]:
    """`term`'s ordering on the page's copy of its column."""
    column = rows.c[term.column.property.columns[0].name]
    ordering: ColumnElement[Any] = (
        column.desc().nulls_first() if term.descending else column.asc().nulls_last()
    )
    return ordering


def declaration_of(field: GraphQLField) -> Any:
    definition = field.extensions.get(DEFINITION)
    resolver = getattr(definition, "base_resolver", None)
    return getattr(getattr(resolver, "wrapped_func", None), "reads", None)


def model_of(definition: Any) -> type[models.Base] | None:
    return getattr(getattr(definition, "origin", None), "__model__", None)


def table_of(model: type[models.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def primary_key(model: type[models.Base]) -> Any:
    (column,) = model.__mapper__.primary_key
    return column


def column_name(model: type[models.Base], attribute: str) -> str:
    """The name of the table column behind a mapped attribute."""
    prop = model.__mapper__.column_attrs.get(attribute)
    if not isinstance(prop, ColumnProperty):
        raise NotCompilable(f"{model.__name__}.{attribute} is not a column")
    return str(prop.columns[0].name)
