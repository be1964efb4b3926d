"""Checks of a request's input values made before anything runs, so that what PostgreSQL
or a recursive walk would fail on is the client's error, with a code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit

from scimeta.errors import BadUserInput, ClientError
from scimeta.schema.filters import variables_refusal


def input_refusal(
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    query: str | None,
    max_variable_depth: int,
) -> GraphQLError | None:
    """The error refusing the input of a valid operation, or None. The variables' depth
    is checked first, before anything walks them recursively."""
    refused = variables_refusal(variables, max_variable_depth)
    if refused is not None:
        return refused
    return unstorable_text(document, variables, query)


def unstorable_text(
    document: DocumentNode, variables: Mapping[str, Any] | None, query: str | None = None
) -> ClientError | None:
    """An error if a string of the request holds what PostgreSQL text and JSON cannot
    store or compare: NUL, or half of a UTF-16 surrogate pair (JSON's `\\ud800`
    without its other half). Found before anything runs, so that it is the client's
    error with a code, not a database failure."""
    strings: list[str] = []
    _strings_of(variables or {}, strings)
    # a document's text holds no NUL or lone surrogate unless one of its strings does
    if query is None or "\\" in query or not query.isascii():
        strings += (node.value for node in _string_nodes(document))
    for text in strings:
        if "\x00" in text:
            return BadUserInput("Text may not contain the NUL character (\\u0000).")
        # ASCII holds no surrogate: most text is answered without a look at each character
        if not text.isascii() and any(0xD800 <= ord(character) <= 0xDFFF for character in text):
            return BadUserInput(
                "Text may not contain half of a surrogate pair (\\ud800 to \\udfff alone)."
            )
    return None


def _strings_of(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _strings_of(key, found)
            _strings_of(item, found)
    elif isinstance(value, list | tuple):
        kinds = set(map(type, value))
        if kinds <= _NUMBERS:
            return
        if kinds == {str}:
            # a column of text, taken whole
            found.extend(value)
            return
        for item in value:
            _strings_of(item, found)


_NUMBERS = frozenset({int, float, bool, type(None)})


def _string_nodes(document: DocumentNode) -> list[StringValueNode]:
    nodes: list[StringValueNode] = []

    class Collector(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            nodes.append(node)

    visit(document, Collector())
    return nodes
