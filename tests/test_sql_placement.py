"""SQL lives in ``sitin/db/``: no other module builds or runs a statement on sitin's database.

Outside ``db/`` a module may name sqlalchemy's types for annotations (``Connection``, ``Row``,
``RowMapping``), catch its errors (``sqlalchemy.exc``) and parse a database URL (``make_url``);
it may not import anything that builds a statement (``select``, ``insert``, ``text``, ``func``, a
dialect…), the tables (``sitin.db.tables``), or call ``execute``/``exec_driver_sql``. The only
exceptions are modules that own a database of their own (written down in docs/architecture.md).
Read from the source (AST), without importing it.
"""

import ast
from pathlib import Path

import pytest

import sitin

SRC = Path(sitin.__file__).parent

# Modules that own a database other than sitin's, and say so in docs/architecture.md.
OWN_DATABASE = {
    "encryption/keystore.py",  # the key store: data keys in a database of their own
    "queue/taskqueue.py",  # the task queue's SQLite file (huey's): a pragma on its connection
}
ALLOWED_NAMES = {
    "sqlalchemy": {"Connection", "Engine", "Row"},
    "sqlalchemy.engine": {"Connection", "Engine", "Row", "RowMapping", "make_url"},
}
ALLOWED_MODULES = {"sqlalchemy.exc"}  # errors, to catch: anything from it
RUNNING = {"execute", "exec_driver_sql"}


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy" or alias.name == "sitin.db.tables":
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            module = node.module
            names = {alias.name for alias in node.names}
            if module == "sitin.db.tables" or (module == "sitin.db" and "tables" in names):
                found.append(f"line {node.lineno}: the tables (from {module})")
            elif module.split(".")[0] == "sqlalchemy" and module not in ALLOWED_MODULES:
                building = sorted(names - ALLOWED_NAMES.get(module, set()))
                if building:
                    found.append(f"line {node.lineno}: from {module} import {', '.join(building)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNNING
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


def test_sql_is_built_and_run_only_in_db():
    checked = 0
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("db/") or relative in OWN_DATABASE:
            continue
        checked += 1
        found = violations(path.read_text())
        if found:
            offenders[relative] = found
    assert checked > 50  # the walk found the package
    assert offenders == {}


def test_the_exceptions_still_exist():
    # a module renamed or removed must leave this list, or it would excuse its successor
    for relative in OWN_DATABASE:
        assert (SRC / relative).is_file(), relative


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sqlalchemy import Connection\nfrom sqlalchemy.engine import RowMapping\n", []),
        ("from sqlalchemy.exc import IntegrityError, DBAPIError\n", []),
        ("from sqlalchemy.engine import make_url\n", []),
        ("from sqlalchemy import Connection, select\n", ["line 1: from sqlalchemy import select"]),
        ("import sqlalchemy as sa\n", ["line 1: import sqlalchemy"]),
        (
            "from sqlalchemy.dialects import sqlite\n",
            ["line 1: from sqlalchemy.dialects import sqlite"],
        ),
        ("from sitin.db.tables import bots\n", ["line 1: the tables (from sitin.db.tables)"]),
        ("from sitin.db import bots, tables\n", ["line 1: the tables (from sitin.db)"]),
        ("def f(conn):\n    conn.execute(q)\n", ["line 2: .execute(...)"]),
        ("def f(tx):\n    tx.conn.exec_driver_sql('SET x')\n", ["line 2: .exec_driver_sql(...)"]),
        # a function of a db module is not SQL: it is where SQL belongs
        ("from sitin.db import bots\nbots.get(conn, project_id=p, bot_id=b)\n", []),
    ],
)
def test_the_checker_itself(source, expected):
    assert violations(source) == expected
