"""Private parts of strawberry, graphql-core and SQLAlchemy are used in their adapter
modules only (`scimeta.strawberry_internals`, `scimeta.sqlalchemy_internals`), and what
the SQLAlchemy adapter does holds on the installed version."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import select

from scimeta import models
from scimeta.sqlalchemy_internals import deep_deannotate, shallow_deannotate

SOURCE = Path(models.__file__).parent.parent
ADAPTERS = {"strawberry_internals.py", "sqlalchemy_internals.py"}
LIBRARIES = ("strawberry", "graphql", "sqlalchemy")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_but_the_adapters_imports_a_librarys_private_name() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name in ADAPTERS or "migrations/versions" in path.as_posix():
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(LIBRARIES):
                private = [a.name for a in node.names if _private(a.name)]
                if private or any(_private(part) for part in (node.module or "").split(".")):
                    found.append(f"{path.relative_to(SOURCE)}:{node.lineno} {node.module}")
    assert found == []


def test_no_module_but_the_adapters_reads_an_orm_annotation() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name in ADAPTERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in {
                "_annotations",
                "_deannotate",
                "_annotate",
            }:
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno} .{node.attr}")
    assert found == []


def _annotated(element: object) -> bool:
    return bool(getattr(element, "_annotations", None))


def test_deannotating_keeps_or_strips_the_subqueries_annotations() -> None:
    inner = select(models.Participant.id).where(models.Participant.number > 1)
    condition = models.Recording.participant_id.in_(inner.scalar_subquery())
    assert _annotated(condition.left)
    shallow = shallow_deannotate(condition)
    assert not _annotated(shallow.left)  # type: ignore[attr-defined]
    # the subquery is left as it was: its criteria still apply
    assert shallow.right.element is condition.right.element  # type: ignore[attr-defined]
    deep = deep_deannotate(condition)
    assert not _annotated(deep.left)  # type: ignore[attr-defined]
    assert str(deep) == str(condition)
