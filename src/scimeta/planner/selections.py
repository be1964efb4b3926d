"""The fields an operation selects on an object, as graphql-core's executor collects
them: fragments and inline fragments whose type applies, `@skip` and `@include`, merged
by response key in the order the response writes them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import VariableValues


class NotCompilable(Exception):
    """The compiled path cannot be sure of the executor's answer to this operation."""


class Selections:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }

    def collect(
        self, type_: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode | None]
    ) -> dict[str, list[FieldNode]]:
        """The fields selected on an object of `type_`, by response key, in the order
        graphql-core's executor writes them."""
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self.applies(selection.type_condition, type_):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments[name]
                    if self.applies(fragment.type_condition, type_):
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            if selection_set is not None:
                walk(selection_set)
        return fields

    def included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise NotCompilable(f"directive @{name}")
            (argument,) = directive.arguments
            value = argument.value
            if isinstance(value, VariableNode):
                condition = self.variables.coerced.get(value.name.value)
            elif isinstance(value, BooleanValueNode):
                condition = value.value
            else:
                raise NotCompilable("directive argument")
            if (name == "skip") == bool(condition):
                return False
        return True

    def applies(self, condition: NamedTypeNode | None, type_: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        named = self.schema.get_type(condition.name.value)
        if named is type_:
            return True
        return named is not None and self.schema.is_sub_type(named, type_)  # type: ignore[arg-type]
