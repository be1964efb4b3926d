"""An operation's tokens with its fragments expanded, counted without expanding them: a
fragment spread ten times counts ten times, but each definition's tokens are read once,
so a few fragments spread in each other cannot make the count itself run away.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Token,
    TokenKind,
)


def expanded_tokens(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> int:
    """The tokens of `operation` if every fragment spread were written out where it
    stands, counted with one pass over each definition's own tokens."""
    expanded: dict[str, int] = {}

    def fragment_tokens(name: str) -> int:
        if name not in expanded:
            selection_set = fragments[name].selection_set
            expanded[name] = _span_tokens(selection_set) + sum(
                fragment_tokens(spread) for spread in _spreads(selection_set)
            )
        return expanded[name]

    return _span_tokens(operation) + sum(
        fragment_tokens(spread) for spread in _spreads(operation.selection_set)
    )


def _span_tokens(node: OperationDefinitionNode | SelectionSetNode) -> int:
    location = node.loc
    assert location is not None, "documents are parsed with their locations"
    count = 0
    token: Token | None = location.start_token
    while token is not None:
        if token.kind is not TokenKind.COMMENT:
            count += 1
        if token is location.end_token:
            break
        token = token.next
    return count


def _spreads(selection_set: SelectionSetNode) -> Iterator[str]:
    """The names of the fragments spread anywhere in `selection_set`, once per spread."""
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
            yield from _spreads(selection.selection_set)
