"""No import cycle anywhere in ``src/sitin``: the modules form a layered graph, wired by bootstrap.

Reads every module's import statements (AST, without importing), including imports inside
functions: a lazy import that closes a cycle hides the cycle, it does not remove it.
"""

import ast
from pathlib import Path

import pytest

import sitin

SRC = Path(sitin.__file__).parent


def module_name(path: Path, root: Path = SRC) -> str:
    parts = ["sitin", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, *, is_package: bool, known: set[str]) -> set[str]:
    """The sitin modules ``name`` imports, each resolved to the most specific known module."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            candidates = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for candidate in candidates:
            parts = candidate.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != name:
                found.add(".".join(parts))
                if isinstance(node, ast.ImportFrom):
                    break  # `from m import x`: x is a submodule, or else just a name in m
    return found


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(paths)
    return {
        name: imports_of(path.read_text(), name, is_package=path.name == "__init__.py", known=known)
        for name, path in paths.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_src_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    assert cycles(graph) == []


def test_every_module_reaches_the_graph():
    graph = import_graph()
    assert "sitin.bootstrap" in graph
    assert "sitin.context" in graph["sitin.bootstrap"]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a lazy import inside a function still closes the cycle
        (
            {"a.py": "from sitin import b\n", "b.py": "def f():\n    import sitin.a\n"},
            [["sitin.a", "sitin.b"]],
        ),
        # relative imports and a package __init__ that re-exports a submodule
        (
            {
                "p/__init__.py": "from .x import X\n",
                "p/x.py": "from sitin.q import y\nX = 1\n",
                "q/__init__.py": "",
                "q/y.py": "from sitin.p import X\n",
            },
            [["sitin.p", "sitin.p.x", "sitin.q.y"]],
        ),
        # a one-way chain is no cycle; `from p import name` is not an import of p.name
        (
            {
                "p/__init__.py": "",
                "p/x.py": "from sitin.p import y\n",
                "p/y.py": "import os\n",
                "top.py": "from sitin.p.x import thing\n",
            },
            [],
        ),
    ],
)
def test_the_checker_itself(tmp_path, files, expected):
    _write(tmp_path, files)
    assert cycles(import_graph(tmp_path)) == expected
