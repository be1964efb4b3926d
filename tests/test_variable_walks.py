"""The walks over a request's variables (their depth, and the text they hold) skip a list
of plain values in one step; generated JSON values get the same answers as the simple
walks that visit every item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from scimeta.resolvers.input_checks import unstorable_text
from scimeta.schema.filters import variables_depth

DOCUMENT = parse("query($v: JSON) { __typename }")


def depth_visiting_every_item(value: Any, stop: int) -> int:
    """The reference: every object and list, item by item, down to `stop` + 1."""

    def depth(item: Any, level: int) -> int:
        if isinstance(item, Mapping):
            inner: Any = list(item.values())
        elif isinstance(item, list | tuple):
            inner = item
        else:
            return level
        if level + 1 > stop:
            return level + 1
        return max([level + 1, *(depth(child, level + 1) for child in inner)])

    return depth(value, 0)


def strings_visiting_every_item(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for key, item in value.items() for s in [key, *strings_visiting_every_item(item)]]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_visiting_every_item(item)]
    return []


def refusal_of_strings(strings: list[str]) -> str | None:
    for text in strings:
        if "\x00" in text:
            return "NUL"
        if any(0xD800 <= ord(character) <= 0xDFFF for character in text):
            return "surrogate"
    return None


text = st.text(alphabet=st.sampled_from(["a", "é", "\x00", "\ud800", "\udfff", "z", " "]))
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
# columns of one kind, as columnar inputs send them, and mixed lists
columns = (
    st.lists(st.floats(allow_nan=False), max_size=30)
    | st.lists(st.integers(), max_size=30)
    | st.lists(text, max_size=30)
    | st.lists(st.none() | st.integers(), max_size=30)
)
json_values = st.recursive(
    scalars | columns,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=8))
def test_the_depth_is_the_depth_found_visiting_every_item(value: Any, stop: int) -> None:
    expected = depth_visiting_every_item(value, stop)
    found = variables_depth(value, stop)
    # both stop counting past `stop`
    assert min(found, stop + 1) == min(expected, stop + 1)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_text_is_refused_as_when_every_string_is_visited(value: Any) -> None:
    error = unstorable_text(DOCUMENT, {"v": value}, "query($v: JSON) { __typename }")
    expected = refusal_of_strings(strings_visiting_every_item({"v": value}))
    if expected is None:
        assert error is None
    else:
        assert error is not None
        assert ("NUL" in error.message) == (expected == "NUL")
