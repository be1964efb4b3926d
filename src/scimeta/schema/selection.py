"""What a query selects under the field being resolved, so that resolvers fetch only
what is asked for.

Read straight from the GraphQL syntax tree: strawberry's `info.selected_fields` converts
the whole subtree (arguments, directives) on every call, which costs more than the
question is worth when a nested list resolves once per parent row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode

from scimeta.strawberry_internals import resolve_info


def selected_subfields(info: Any) -> dict[str, set[str]]:
    """For the field being resolved: each selected subfield's name, with the names of its
    own selected subfields, through fragments."""
    raw = resolve_info(info)
    fragments: Mapping[str, FragmentDefinitionNode] = raw.fragments
    result: dict[str, set[str]] = {}
    for field_node in raw.field_nodes:
        for child in _fields(field_node, fragments):
            names = result.setdefault(child.name.value, set())
            names.update(grandchild.name.value for grandchild in _fields(child, fragments))
    return result


def _fields(node: Any, fragments: Mapping[str, FragmentDefinitionNode]) -> Iterable[FieldNode]:
    if node.selection_set is None:
        return
    for selection in node.selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            yield from _fields(fragments[selection.name.value], fragments)


def selected_node_fields(info: Any) -> set[str]:
    """For a connection field: the fields selected on its items, under `nodes` or under
    `edges { node }`."""
    raw = resolve_info(info)
    fragments: Mapping[str, FragmentDefinitionNode] = raw.fragments
    names: set[str] = set()
    for field_node in raw.field_nodes:
        for child in _fields(field_node, fragments):
            if child.name.value == "nodes":
                names.update(f.name.value for f in _fields(child, fragments))
            elif child.name.value == "edges":
                for edge_field in _fields(child, fragments):
                    if edge_field.name.value == "node":
                        names.update(f.name.value for f in _fields(edge_field, fragments))
    return names
