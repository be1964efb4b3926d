"""`where:` arguments: operator inputs per scalar type, and their translation to SQL.

An entity's `<Entity>Where` input names its filterable fields, each taking an operator
input (`{eq, in, lt, lte, gt, gte, contains, ilike, isNull}`), a nested `<Other>Where`
for a relation, and `and`, `or`, `not`. All conditions given in one input must hold.
Field names are the ORM attribute names; the relations are those declared in
`scimeta.models.ownership`. The inputs themselves, and the operator inputs of the enum
fields, are written by `python -m scimeta.schema.generate` in `scimeta.schema.generated`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import strawberry
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    VariableNode,
    get_named_type,
)
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute
from strawberry import relay

from scimeta.errors import BadUserInput, OperationRefused
from scimeta.ids import parse_row_id
from scimeta.models import Base
from scimeta.models.ownership import relation, relations_of
from scimeta.schema.scalars import Long
from scimeta.sqlalchemy_internals import shallow_deannotate

MAX_IN_VALUES = 1000

Column = InstrumentedAttribute[Any]


def _given(value: Any) -> bool:
    return value is not None and value is not strawberry.UNSET


def _check_in(values: list[Any]) -> list[Any]:
    if len(values) > MAX_IN_VALUES:
        raise BadUserInput(
            f"`in` takes at most {MAX_IN_VALUES} values, got {len(values)}: split the query.",
            maximum=MAX_IN_VALUES,
        )
    return values


class OperatorFilter:
    """Base of the operator inputs: every operator given must hold."""

    def model_condition(self, model: type[Base], field_name: str) -> ColumnElement[bool]:
        return self.condition(getattr(model, field_name))

    def condition(self, column: Column) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if _given(value):
                conditions.append(self._operator(field.name, column, value))
        return and_(true(), *conditions)

    def _operator(self, name: str, column: Column, value: Any) -> ColumnElement[bool]:
        match name:
            case "eq":
                return column == value
            case "in_":
                return column.in_(_check_in(value))
            case "lt":
                return column < value
            case "lte":
                return column <= value
            case "gt":
                return column > value
            case "gte":
                return column >= value
            case "contains":
                return column.contains(value, autoescape=True)
            case "ilike":
                return column.ilike(_like_pattern(value))
            case "is_null":
                return column.is_(None) if value else column.is_not(None)
        raise AssertionError(f"unknown operator {name}")


def _like_pattern(pattern: str) -> str:
    """`pattern`, refused if it ends in an escaping backslash, which escapes nothing (the
    database would refuse the whole statement)."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2:
        raise BadUserInput(
            "An ilike pattern may not end in a lone backslash: \\ escapes the next "
            "character (write \\\\ for a backslash itself).",
            field="ilike",
        )
    return pattern


_IN = "Any of these values (at most 1000)."
_NULL = "true: the field is null; false: it is not."


@strawberry.input(description="Conditions on an integer field.")
class IntFilter(OperatorFilter):
    eq: int | None = strawberry.field(default=None, description="Equal to.")
    in_: list[int] | None = strawberry.field(default=None, name="in", description=_IN)
    lt: int | None = strawberry.field(default=None, description="Less than.")
    lte: int | None = strawberry.field(default=None, description="At most.")
    gt: int | None = strawberry.field(default=None, description="Greater than.")
    gte: int | None = strawberry.field(default=None, description="At least.")
    is_null: bool | None = strawberry.field(default=None, description=_NULL)


@strawberry.input(description="Conditions on a 64-bit integer field.")
class LongFilter(OperatorFilter):
    eq: Long | None = strawberry.field(default=None, description="Equal to.")
    in_: list[Long] | None = strawberry.field(default=None, name="in", description=_IN)
    lt: Long | None = strawberry.field(default=None, description="Less than.")
    lte: Long | None = strawberry.field(default=None, description="At most.")
    gt: Long | None = strawberry.field(default=None, description="Greater than.")
    gte: Long | None = strawberry.field(default=None, description="At least.")
    is_null: bool | None = strawberry.field(default=None, description=_NULL)


@strawberry.input(description="Conditions on a floating-point field.")
class FloatFilter(OperatorFilter):
    eq: float | None = strawberry.field(default=None, description="Equal to.")
    lt: float | None = strawberry.field(default=None, description="Less than.")
    lte: float | None = strawberry.field(default=None, description="At most.")
    gt: float | None = strawberry.field(default=None, description="Greater than.")
    gte: float | None = strawberry.field(default=None, description="At least.")
    is_null: bool | None = strawberry.field(default=None, description=_NULL)


@strawberry.input(description="Conditions on a text field.")
class StringFilter(OperatorFilter):
    eq: str | None = strawberry.field(default=None, description="Equal to.")
    in_: list[str] | None = strawberry.field(default=None, name="in", description=_IN)
    lt: str | None = strawberry.field(default=None, description="Sorts before.")
    gt: str | None = strawberry.field(default=None, description="Sorts after.")
    contains: str | None = strawberry.field(
        default=None, description="Contains this text (case-sensitive)."
    )
    ilike: str | None = strawberry.field(
        default=None,
        description="Matches this SQL LIKE pattern, ignoring case: % is any text, _ one character.",
    )
    is_null: bool | None = strawberry.field(default=None, description=_NULL)


@strawberry.input(description="Conditions on a time field.")
class DateTimeFilter(OperatorFilter):
    eq: datetime | None = strawberry.field(default=None, description="At exactly.")
    lt: datetime | None = strawberry.field(default=None, description="Before.")
    lte: datetime | None = strawberry.field(default=None, description="At or before.")
    gt: datetime | None = strawberry.field(default=None, description="After.")
    gte: datetime | None = strawberry.field(default=None, description="At or after.")
    is_null: bool | None = strawberry.field(default=None, description=_NULL)


@strawberry.input(description="Conditions on a true/false field.")
class BooleanFilter(OperatorFilter):
    eq: bool | None = strawberry.field(default=None, description="Equal to.")
    is_null: bool | None = strawberry.field(default=None, description=_NULL)


@strawberry.input(description="Conditions on a node's global id.")
class IDFilter(OperatorFilter):
    eq: relay.GlobalID | None = strawberry.field(default=None, description="This node.")
    in_: list[relay.GlobalID] | None = strawberry.field(
        default=None, name="in", description="Any of these nodes (at most 1000)."
    )

    def model_condition(self, model: type[Base], field_name: str) -> ColumnElement[bool]:
        return self.node_condition(getattr(model, field_name), model.__name__)

    def node_condition(self, column: Column, type_name: str) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if self.eq is not None:
            conditions.append(column.__eq__(_row_id(self.eq, type_name)))
        if self.in_ is not None:
            conditions.append(column.in_([_row_id(g, type_name) for g in _check_in(self.in_)]))
        return and_(true(), *conditions)


@strawberry.input(description="Conditions on the node an event is about.")
class SubjectFilter(OperatorFilter):
    eq: relay.GlobalID | None = strawberry.field(default=None, description="This node.")
    in_: list[relay.GlobalID] | None = strawberry.field(
        default=None, name="in", description="Any of these nodes (at most 1000)."
    )
    type_name: str | None = strawberry.field(
        default=None, name="type", description="Any node of this type, e.g. Run."
    )

    def model_condition(self, model: type[Base], field_name: str) -> ColumnElement[bool]:
        type_column: Column = getattr(model, f"{field_name}_type")
        id_column: Column = getattr(model, f"{field_name}_id")
        conditions: list[ColumnElement[bool]] = []
        if self.eq is not None or self.in_ is not None:
            ids = ([self.eq] if self.eq is not None else []) + _check_in(self.in_ or [])
            conditions.append(
                or_(
                    false(),
                    *(and_(type_column == g.type_name, id_column == _node_id(g)) for g in ids),
                )
            )
        if self.type_name is not None:
            conditions.append(type_column == self.type_name)
        return and_(true(), *conditions)


def _node_id(global_id: relay.GlobalID) -> int:
    row = parse_row_id(global_id.node_id)
    if row is None:
        raise BadUserInput(f"Invalid {global_id.type_name} id: pass an id this API returned.")
    return row


def _row_id(global_id: relay.GlobalID, type_name: str) -> int:
    if global_id.type_name != type_name:
        raise BadUserInput(
            f"Expected the id of a {type_name}, got the id of a {global_id.type_name}."
        )
    return _node_id(global_id)


class DeclaredRelations:
    """A `<Entity>Where`'s relations, as (this model's column, the related model's column)
    by field name: those declared filterable for its model in `scimeta.models.ownership`."""

    def __get__(
        self, instance: WhereInput | None, owner: type[WhereInput]
    ) -> dict[str, tuple[Column, Column]]:
        return {
            name: (declared.local, declared.remote)
            for name, declared in relations_of(owner.__model__).items()
            if declared.filterable
        }


class WhereInput:
    """Base of every `<Entity>Where` input (`scimeta.schema.generated.where`).

    `__model__` is the ORM model. A field holding another `<Other>Where` is the model's
    relation of that name (`scimeta.models.ownership.relation`): a row matches when some
    related row matches.
    """

    __model__: ClassVar[type[Base]]
    __relations__ = DeclaredRelations()

    def condition(self) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if _given(value):
                conditions.append(self._field_condition(field.name, value))
        return and_(true(), *conditions)

    def _field_condition(self, name: str, value: Any) -> ColumnElement[bool]:
        model = self.__model__
        if name == "and_":
            return and_(true(), *(where.condition() for where in value))
        if name == "or_":
            return or_(false(), *(where.condition() for where in value))
        if name == "not_":
            # Two-valued: a row for which the condition is unknown (a null column, no
            # related row) does not satisfy it, so it satisfies its negation.
            return not_(func.coalesce(value.condition(), false()))
        if isinstance(value, WhereInput):
            related = relation(model, name)
            local, remote = related.local, related.remote
            if related.same_scope:
                return local.in_(restricted_once(remote, value.condition()))
            return local.in_(select(remote).where(value.condition()))
        if isinstance(value, OperatorFilter):
            return value.model_condition(model, name)
        raise AssertionError(f"{type(self).__name__}.{name} has no translation")


def restricted_once(remote: Column, condition: ColumnElement[bool]) -> Select[Any]:
    """`SELECT remote WHERE condition` that no visibility condition is added to: a
    relation filter along a relation that keeps the caller's scope (see
    `scimeta.models.ownership.Relation.same_scope`). The select and its own conditions are
    on the plain table, which the loaders' criteria do not apply to, and it is marked for
    compiled reads (`RESTRICTED_ONCE`); subqueries nested in it keep theirs."""
    column = remote.property.columns[0]
    statement = select(column).where(shallow_deannotate(condition))
    setattr(statement, RESTRICTED_ONCE, True)
    return statement


# the attribute marking a select that compiled reads add no visibility condition to
RESTRICTED_ONCE = "_scimeta_restricted_once"


def where_condition(where: WhereInput | None) -> list[ColumnElement[bool]]:
    return [] if where is None else [where.condition()]


# -- the size of a filter, measured before anything runs ----------------------------------


class FilterTooDeep(OperationRefused):
    code = "FILTER_TOO_DEEP"


class FilterTooWide(OperationRefused):
    code = "FILTER_TOO_WIDE"


class VariablesTooDeep(OperationRefused):
    code = "VARIABLES_TOO_DEEP"


# a relation filter's subquery counts in the cost estimate as a default page of rows
RELATION_COST = 50
_COMBINATORS = frozenset({"and", "or", "not"})


@dataclass
class FilterSize:
    """How deep `where` inputs nest (relations, `and`, `or` and `not` each a level), the
    values they compare (each item of an `in` list one), and the relations they follow."""

    depth: int = 0
    values: int = 0
    relations: int = 0

    def add(self, other: FilterSize) -> None:
        self.depth = max(self.depth, other.depth)
        self.values += other.values
        self.relations += other.relations


def is_where(type_: Any) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLInputObjectType) and named.name.endswith("Where")


def filter_size(value: Any, type_: Any, variables: Mapping[str, Any], stop: int) -> FilterSize:
    """The size of `value`, a literal (`ValueNode`, which may hold variables) or a
    variable's value, given for an argument of type `type_`. Walks no deeper than `stop`
    levels, so that a filter nested thousands deep is measured as just over the limit."""
    size = FilterSize()
    # (value, its type, its level of `where` nesting)
    pending: list[tuple[Any, Any, int]] = [(value, type_, 0)]
    while pending:
        item, item_type, level = pending.pop()
        if isinstance(item, VariableNode):
            item = variables.get(item.name.value)
        if item is None or isinstance(item, NullValueNode):
            continue
        nullable = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if isinstance(nullable, GraphQLList):
            items = item.values if isinstance(item, ListValueNode) else item
            if not isinstance(items, list | tuple):
                items = [items]
            if not is_where(nullable):
                size.values += len(items)
                continue
            pending.extend((inner, nullable.of_type, level) for inner in items)
            continue
        if not isinstance(nullable, GraphQLInputObjectType):
            size.values += 1
            continue
        if is_where(nullable):
            level += 1
            size.depth = max(size.depth, level)
            if level > stop:
                continue
        if isinstance(item, ObjectValueNode):
            fields: list[tuple[str, Any]] = [(f.name.value, f.value) for f in item.fields]
        elif isinstance(item, Mapping):
            fields = list(item.items())
        else:
            size.values += 1
            continue
        for name, inner in fields:
            declared = nullable.fields.get(name)
            if declared is None:
                continue
            if is_where(nullable) and is_where(declared.type) and name not in _COMBINATORS:
                size.relations += 1
            pending.append((inner, declared.type, level))
    return size


def filter_refusal(size: FilterSize, max_depth: int, max_values: int) -> OperationRefused | None:
    """The error refusing an operation whose filters measure `size`, if any."""
    if size.depth > max_depth:
        return FilterTooDeep(
            f"A where input nests {size.depth} levels deep (relations, and, or, not); the "
            f"limit is {max_depth}. Filter on fewer levels, or query the related rows "
            "first and filter on their ids.",
            limit=max_depth,
            count=size.depth,
        )
    if size.values > max_values:
        return FilterTooWide(
            f"The filters of the operation compare {size.values} values (each item of an "
            f"`in` list counts); the limit is {max_values}. Split the operation.",
            limit=max_values,
            count=size.values,
        )
    return None


def variables_depth(variables: Any, stop: int) -> int:
    """How deep `variables` nest (objects and lists), counted without recursion and no
    further than `stop` + 1: the values a client sends are refused over the limit before
    anything walks them recursively."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(variables, 0)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, Mapping):
            inner: Any = value.values()
        elif isinstance(value, list | tuple):
            inner = value
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        # a list of plain values (a column of 10,000 numbers) holds nothing deeper: told
        # from the set of its items' types, without a step per item
        if level <= stop and not (isinstance(inner, list) and set(map(type, inner)) <= SCALARS):
            pending.extend((item, level) for item in inner)
    return deepest


# the types of the plain values JSON decodes to
SCALARS = frozenset({str, int, float, bool, type(None)})


def variables_refusal(variables: Any, max_depth: int) -> OperationRefused | None:
    depth = variables_depth(variables, max_depth)
    if depth > max_depth:
        return VariablesTooDeep(
            f"The variables nest more than {max_depth} levels deep (objects and lists); "
            "send flatter values.",
            limit=max_depth,
        )
    return None
