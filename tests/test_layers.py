"""The package's layers import downwards only, and no two modules import each other.

Every module of `src/scimeta` belongs to one layer; a module may import modules of its own
layer and of those below it, never of one above (imports under `if TYPE_CHECKING:` are
for annotations only and do not count; nor do imports inside functions, which run late,
though there are few). New modules join the layer of their package, or of their own name
where a module stands alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import scimeta

SOURCE = Path(scimeta.__file__).parent

# lowest first
LAYERS: list[set[str]] = [
    {
        "scimeta",
        "scimeta.errors",
        "scimeta.ids",
        "scimeta.lru",
        "scimeta.faults",
        "scimeta.strawberry_internals",
        "scimeta.sqlalchemy_internals",
        "scimeta.operation_limits",
        "scimeta.metrics",
        "scimeta.liveness",
    },
    {"scimeta.models"},
    {"scimeta.loaders"},
    {"scimeta.auth"},
    {"scimeta.writes"},
    {"scimeta.schema"},
    {"scimeta.planner"},
    {"scimeta.live"},
    {"scimeta.operation"},
    {"scimeta.resolvers"},
    {"scimeta.server"},
    {"scimeta.demo", "scimeta.transfer"},
    {"scimeta.server.cli", "scimeta.__main__", "scimeta.migrations"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The layer of the longest prefix of `module` that names one."""
    best, best_length = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_length:
                best, best_length = index, len(name)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """The scimeta modules `path` imports when it is imported, with the line."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(nodes: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in nodes:
            if isinstance(node, ast.If):
                if not _type_checking(node):
                    yield from walk(node.body)
                yield from walk(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody):
                    yield from walk(block)
                for handler in node.handlers:
                    yield from walk(handler.body)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                yield source, node.lineno
                for alias in node.names:
                    # `from scimeta.schema import studies` imports a module
                    candidate = f"{source}.{alias.name}"
                    if _is_module(candidate):
                        yield candidate, node.lineno

    for name, line in walk(tree.body):
        if name == "scimeta" or name.startswith("scimeta."):
            yield name, line


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (SOURCE / relative).with_suffix(".py").exists() or (SOURCE / relative).is_dir()


def modules() -> list[tuple[str, Path]]:
    return sorted(
        (module_name(path), path)
        for path in SOURCE.rglob("*.py")
        if "migrations/versions" not in path.as_posix()
    )


def test_every_module_has_a_layer() -> None:
    for module, _ in modules():
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for module, path in modules():
        mine = layer_of(module)
        for imported, line in imports_of(path, module):
            theirs = layer_of(imported)
            if theirs > mine:
                upward.append(
                    f"{path.relative_to(SOURCE.parent)}:{line} {module} (layer {mine}) "
                    f"imports {imported} (layer {theirs})"
                )
    assert not upward, "\n".join(upward)


def import_graph() -> dict[str, set[str]]:
    known = dict(modules())
    return {
        module: {
            imported
            for imported, _ in imports_of(path, module)
            if imported != module and imported in known
        }
        for module, path in known.items()
    }


def cycles_of(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's strongly
    connected components, iteratively); a package and its own modules are not one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 and not _package_and_its_modules(component):
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycles_between_modules() -> None:
    assert cycles_of(import_graph()) == []


def test_a_cycle_is_found() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "p": {"p.x"},
        "p.x": {"p"},
    }
    assert cycles_of(graph) == [["a", "b", "c"]]


def _package_and_its_modules(component: list[str]) -> bool:
    shortest = min(component, key=len)
    return all(m == shortest or m.startswith(shortest + ".") for m in component)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from scimeta.server.context import Context\n", ["scimeta.server.context"]),
        ("if TYPE_CHECKING:\n    from scimeta.server import app\n", []),
        ("from . import hub\n", ["scimeta.live", "scimeta.live.hub"]),
        ("import scimeta.models\n", ["scimeta.models"]),
    ],
)
def test_the_walk_finds_what_a_module_imports(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    # the source as a module of scimeta.live
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert [name for name, _ in imports_of(path, "scimeta.live.probe")] == expected


def test_an_upward_import_is_found() -> None:
    assert layer_of("scimeta.resolvers.subscription") > layer_of("scimeta.operation")
    assert layer_of("scimeta.server.context") > layer_of("scimeta.resolvers.subscription")
    assert layer_of("scimeta.server.cli") > layer_of("scimeta.transfer.commands")
