"""``sitin.core`` stays pure: no web framework, database, media or I/O-bound sitin package.

Reads the import statements of every core module (AST, without importing them), so an import
hidden inside a function counts too.
"""

import ast
from pathlib import Path

import pytest

import sitin.core

CORE_DIR = Path(sitin.core.__file__).parent
FORBIDDEN_SITIN = ("api", "db", "runtime", "rooms", "transcription", "webhooks", "storage")
FORBIDDEN_THIRD_PARTY = ("fastapi", "starlette", "sqlalchemy", "av", "aiortc")
CORE_MODULES = sorted(CORE_DIR.rglob("*.py"))


def imported_modules(source: str, path: Path) -> set[str]:
    """Absolute names of everything the module at ``path`` imports (relative ones resolved)."""
    package = ["sitin", *path.relative_to(CORE_DIR.parent).parent.parts]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def forbidden(name: str) -> bool:
    parts = name.split(".")
    if parts[0] == "sitin":
        return len(parts) > 1 and parts[1] in FORBIDDEN_SITIN
    return parts[0] in FORBIDDEN_THIRD_PARTY


def test_core_has_modules():
    assert {p.stem for p in CORE_MODULES} >= {"states", "validation", "timefmt", "ids"}


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path):
    assert sorted(filter(forbidden, imported_modules(path.read_text(), path))) == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import sqlalchemy.orm", True),
        ("from fastapi import Request", True),
        ("def f():\n    from sitin.db import bots", True),
        ("from ..api import errors", True),
        ("import av", True),
        ("from sitin.core.states import BotState", False),
        ("from . import ids", False),
        ("import avocado", False),
    ],
)
def test_the_checker_itself(source, bad):
    names = imported_modules(source, CORE_DIR / "probe.py")
    assert any(map(forbidden, names)) == bad, names
