"""Every difference between databases lives in engine/store/dialects/: nothing else asks."""

from __future__ import annotations

import ast

from tests.support import REPO

NAMES = {"sqlite", "postgresql", "postgres", "pysqlite", "psycopg"}
ALLOWED = REPO / "engine" / "store" / "dialects"


def _asks_which_database(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def names_a_database(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.split("+")[0].split(":")[0].lower() in NAMES
        ) or (
            isinstance(node, ast.Tuple | ast.List | ast.Set)
            and any(map(names_a_database, node.elts))
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("is_sqlite", "is_postgresql"):
            found.append((node.lineno, f".{node.attr}"))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "name"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "dialect"
        ):
            found.append((node.lineno, ".dialect.name"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("get_backend_name", "get_driver_name"):
                found.append((node.lineno, node.func.attr))
            elif node.func.attr in ("startswith", "endswith") and any(
                map(names_a_database, node.args)
            ):
                found.append((node.lineno, f"{node.func.attr}({ast.unparse(node.args[0])})"))
        elif isinstance(node, ast.Compare) and any(
            names_a_database(n) for n in (node.left, *node.comparators)
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_outside_the_dialects_asks_which_database_it_is_on() -> None:
    offenders = []
    for folder in ("engine", "console"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if ALLOWED in path.parents:
                continue
            for line, what in _asks_which_database(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(REPO)}:{line}: {what}")
    assert offenders == []


def test_the_check_finds_what_it_looks_for() -> None:
    """The check itself, on code that asks in each way it knows."""
    code = """
if store.is_sqlite: pass
if engine.dialect.name == "postgresql": pass
if url.startswith("sqlite"): pass
if backend in ("postgres", "postgresql"): pass
name = url.get_backend_name()
if driver == "psycopg": pass
"""
    assert {line for line, _ in _asks_which_database(ast.parse(code))} == {2, 3, 4, 5, 6, 7}
