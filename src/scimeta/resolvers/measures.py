"""The shape and cost of an operation, walked once with its fragments expanded where they
are spread: its depth, aliases, `where` inputs, and the rows it may return.

The rows are estimated from the page sizes the document asks for: a nested page is per
parent, so `studies(first: 10) { nodes { participants(first: 100) { nodes { id } } } }`
may return 10 + 10 x 100 rows whatever the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValueNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)

from scimeta.operation_limits import Limits
from scimeta.schema.filters import RELATION_COST, FilterSize, filter_size, is_where
from scimeta.schema.pagination import DEFAULT_PAGE_SIZE, page_size_bound

# A connection's fields that read its page's rows (the others count or aggregate).
PAGE_FIELDS = frozenset({"edges", "nodes", "pageInfo"})

# Fields of every query type that introspection adds; `__typename` selects nothing.
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


@dataclass
class Measures:
    """The size of an operation with its fragments expanded. `cost` is the rows it may
    return: each page counts its size times the pages around it, each single object one."""

    tokens: int = 0
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    # the operation's `where` inputs: the deepest nesting and the values they compare
    filter: FilterSize = field(default_factory=FilterSize)


def estimate(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    limits: Limits,
) -> Measures:
    """The measures of a valid operation (a fragment spread in itself would never end),
    all but its tokens, which `expanded_tokens` counts without this walk."""
    return _Estimate(schema, fragments, operation, variables, limits).run()


@dataclass(frozen=True)
class _Place:
    """Where in the operation a selection set is: how many times it is repeated
    (`multiplier`), the page size if it is a connection's, whether it is an edge (whose
    `node` is the page's row, counted with the page), how many items the lists of the
    root field's arguments hold (a root or payload list returns at most one per item),
    and whether it is introspection (answered from memory, so free)."""

    multiplier: int = 1
    depth: int = 0
    page: int | None = None
    edge: bool = False
    root_items: int | None = None
    costed: bool = True


class _Estimate:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments = fragments
        self.operation = operation
        defaults = {
            definition.variable.name.value: value_from_ast_untyped(definition.default_value)
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        self.variables = {**defaults, **variables}
        self.measures = Measures()

    def run(self) -> Measures:
        root = self.schema.get_root_type(self.operation.operation)
        assert root is not None, "validation checked that the schema has the operation's type"
        self.selections(self.operation.selection_set, root, _Place())
        return self.measures

    def selections(self, selection_set: SelectionSetNode, parent: Any, place: _Place) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, place)
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = selection.selection_set
            else:
                assert isinstance(selection, FragmentSpreadNode)
                fragment = self.fragments[selection.name.value]
                condition = fragment.type_condition
                inner = fragment.selection_set
            self.selections(
                inner, self.schema.get_type(condition.name.value) if condition else parent, place
            )

    def field(self, node: FieldNode, parent: Any, place: _Place) -> None:
        measures = self.measures
        depth = place.depth + 1
        measures.depth = max(measures.depth, depth)
        if node.alias is not None:
            measures.aliases += 1
        definition = self.definition(parent, node.name.value)
        if definition is None or node.selection_set is None:
            return
        named = get_named_type(definition.type)
        costed = place.costed and not named.name.startswith("__")
        self.filters(node, definition, place.multiplier, costed)
        is_root = depth == 1
        root_items = self.list_items(node, definition) if is_root else place.root_items
        # a payload's lists return what the mutation's input lists gave
        inherited_items = root_items if is_root and self.is_mutation else None
        name = node.name.value
        if place.page is not None and name in ("edges", "nodes"):
            rows = place.multiplier * place.page
            inner = _Place(rows, depth, edge=name == "edges", costed=costed)
        elif place.edge and name == "node":
            inner = _Place(place.multiplier, depth, costed=costed)
        elif self.is_connection(definition, named):
            size = self.page_size(node)
            fetched = not PAGE_FIELDS.isdisjoint(self.field_names(node.selection_set))
            self.add(place.multiplier * (size if fetched else 1), costed)
            inner = _Place(place.multiplier, depth, page=size, costed=costed)
        elif isinstance(_nullable(definition.type), GraphQLList):
            size = DEFAULT_PAGE_SIZE if root_items is None else root_items
            rows = place.multiplier * size
            self.add(rows, costed)
            inner = _Place(rows, depth, costed=costed)
        else:
            self.add(place.multiplier, costed)
            inner = _Place(place.multiplier, depth, root_items=inherited_items, costed=costed)
        self.selections(node.selection_set, named, inner)

    def filters(
        self, node: FieldNode, definition: GraphQLField, multiplier: int, costed: bool
    ) -> None:
        """Measure the `where` arguments of `node`. Each costs, for each time the field
        runs, the values it compares and a default page per relation it follows."""
        for argument in node.arguments or ():
            declared = definition.args.get(argument.name.value)
            if declared is None or not is_where(declared.type):
                continue
            size = filter_size(
                argument.value, declared.type, self.variables, self.limits.max_filter_depth
            )
            self.measures.filter.add(size)
            self.add(multiplier * (size.values + RELATION_COST * size.relations), costed)

    def add(self, rows: int, costed: bool) -> None:
        if costed:
            self.measures.cost += rows

    @property
    def is_mutation(self) -> bool:
        return self.operation.operation is OperationType.MUTATION

    def definition(self, parent: Any, name: str) -> GraphQLField | None:
        if name in _META_FIELDS:
            return _META_FIELDS[name]
        fields = getattr(parent, "fields", None)
        return None if fields is None else cast(GraphQLField | None, fields.get(name))

    @staticmethod
    def is_connection(definition: GraphQLField, named: Any) -> bool:
        return (
            "first" in definition.args
            and isinstance(named, GraphQLObjectType)
            and "edges" in named.fields
        )

    def page_size(self, node: FieldNode) -> int:
        """The page size a connection field asks for, as its resolver will take it."""
        return page_size_bound(self.int_argument(node, "first"), self.int_argument(node, "last"))

    def int_argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return given if isinstance(given, int) and not isinstance(given, bool) else None
        return None

    def field_names(self, selection_set: SelectionSetNode) -> set[str]:
        """The fields `selection_set` selects, through its fragments."""
        names: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                names |= self.field_names(selection.selection_set)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                names |= self.field_names(self.fragments[selection.name.value].selection_set)
        return names

    def list_items(self, node: FieldNode, definition: GraphQLField) -> int:
        """The items of the lists among the arguments of `node`, a root field."""
        total = 0
        for argument in node.arguments or ():
            declared = definition.args.get(argument.name.value)
            if declared is not None:
                total += self.literal_items(argument.value, declared.type)
        return total

    def literal_items(self, value: ValueNode, type_: GraphQLInputType) -> int:
        if isinstance(value, VariableNode):
            return _value_items(self.variables.get(value.name.value), type_)
        type_ = _nullable(type_)
        if isinstance(type_, GraphQLList):
            if isinstance(value, ListValueNode):
                return len(value.values)
            return 0 if isinstance(value, NullValueNode) else 1
        if isinstance(type_, GraphQLInputObjectType) and isinstance(value, ObjectValueNode):
            return sum(
                self.literal_items(field.value, type_.fields[field.name.value].type)
                for field in value.fields
                if field.name.value in type_.fields
            )
        return 0


def _value_items(value: Any, type_: GraphQLInputType) -> int:
    """The items of the lists in a variable's value, walked along its declared type."""
    type_ = _nullable(type_)
    if isinstance(type_, GraphQLList):
        if isinstance(value, list):
            return len(value)
        return 0 if value is None else 1
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        return sum(
            _value_items(item, type_.fields[name].type)
            for name, item in value.items()
            if name in type_.fields
        )
    return 0


def _nullable(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_
