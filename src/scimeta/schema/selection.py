"""What a query selects under the field being resolved, so that resolvers fetch only
what is asked for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def selected_subfields(selected: list[Any]) -> dict[str, set[str]]:
    """For the field being resolved (`info.selected_fields`): each selected subfield's
    name, with the names of its own selected subfields, through fragments."""
    result: dict[str, set[str]] = {}
    for child in _fields(selected[0].selections):
        result.setdefault(child.name, set()).update(g.name for g in _fields(child.selections))
    return result


def _fields(selections: Iterable[Any]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)
