"""No module keeps mutable state of its own (what a process shares lives in its AppContext): a
module-level name bound to an empty container exists only to be filled at run time."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sitin"
CONTAINERS = {"dict", "list", "set", "OrderedDict", "defaultdict", "deque", "WeakValueDictionary"}


def filled_at_run_time(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set):
        return not (value.keys if isinstance(value, ast.Dict) else value.elts)
    if isinstance(value, ast.Call):
        func = value.func
        return (func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")) in CONTAINERS
    return False


def module_level_containers(source: str) -> list[tuple[int, str]]:
    """(line, names) of every module-level binding of an empty container."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and filled_at_run_time(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.append((node.lineno, ", ".join(ast.unparse(t) for t in targets)))
    return found


def test_no_module_binds_an_empty_container_to_fill_later():
    found = [
        f"{path.relative_to(SRC.parent)}:{line}: {names}"
        for path in sorted(SRC.rglob("*.py"))
        for line, names in module_level_containers(path.read_text())
    ]
    assert found == [], "module-level mutable state:\n" + "\n".join(found)


def test_the_check_finds_such_a_container_and_leaves_constant_tables_alone():
    source = "_cache: dict[str, int] = {}\nRATES = {48_000: 'meeting'}\n_seen = set()\n"
    assert module_level_containers(source) == [(1, "_cache"), (3, "_seen")]
