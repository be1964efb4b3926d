"""What scimeta uses of SQLAlchemy's insides, in one place.

SQLAlchemy marks its ORM annotations (the entity a column was read through, which the
loaders' criteria key on) private. Visibility needs to build subqueries on plain tables, so
that the criteria are not added to them a second time: removing the annotations is done
here and nowhere else, and `tests/test_install.py` checks the functions this module calls
exist on the installed SQLAlchemy.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnClause, ColumnElement, ScalarSelect, Select, Subquery, Table
from sqlalchemy.sql import visitors
from sqlalchemy.sql.annotation import _deep_deannotate

ElementT = TypeVar("ElementT")


def deep_deannotate(element: ColumnElement[bool]) -> ColumnElement[bool]:
    """`element` with the ORM's annotations removed throughout, subqueries included."""
    return _deep_deannotate(element)


def shallow_deannotate(element: ElementT) -> ElementT:
    """`element` with the ORM's annotations removed from its columns, but not from the
    subqueries it holds."""

    def replace(item: Any, **_: Any) -> Any:
        if isinstance(item, Select | ScalarSelect | Subquery):
            return item
        if isinstance(item, ColumnClause | Table) and item._annotations:
            return item._deannotate()
        return None

    # (typed for the Protocol of its callback, which a plain function does not match)
    traverse: Any = visitors.replacement_traverse
    result: ElementT = traverse(element, {}, replace)
    return result
