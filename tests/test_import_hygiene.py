"""What each entry point imports, checked in a fresh interpreter (harlequin's habit).

``wfe --help``, ``--version`` and ``wfe validate`` start in a blink because they leave
SQLAlchemy, SQLModel, trio, httpx and Textual unimported; ``import engine`` leaves the
console alone; the console does not import the benchmarks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import EXAMPLES, REPO

HEAVY = ("sqlalchemy", "sqlmodel", "trio", "httpx", "textual")


def imported_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running ``code``."""
    probe = (
        code
        + "\nimport json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def wfe(*args: str) -> str:
    """Run ``wfe ARGS`` in-process in a fresh interpreter, as the entry point does."""
    return (
        "import sys\n"
        "from engine.cli import main\n"
        f"sys.argv = ['wfe', *{list(args)!r}]\n"
        "try:\n    main(prog_name='wfe')\nexcept SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )


@pytest.mark.parametrize(
    "args",
    [("--help",), ("--version",), ("validate", str(EXAMPLES)), ("workflow", "--help")],
    ids=["help", "version", "validate", "workflow-help"],
)
def test_quick_commands_import_nothing_heavy(args: tuple[str, ...]) -> None:
    assert imported_by(wfe(*args)) & set(HEAVY) == set()


def test_import_engine_is_light_and_never_the_console() -> None:
    loaded = imported_by("import engine")
    assert loaded & {*HEAVY, "console", "themes"} == set()


def test_the_engine_never_imports_the_console() -> None:
    # Everything in engine/ (the CLI, the runtime, the store, the bench) imported at once.
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "engine").rglob("*.py")
        if "migrations" not in p.parts and p.name != "__main__.py"
    )
    loaded = imported_by("\n".join(f"import {m}" for m in modules))
    assert loaded & {"textual", "console", "themes"} == set()


def test_the_console_does_not_import_the_benchmarks() -> None:
    loaded = imported_by(
        "import console.app, console.main, sys\nimport engine\n"
        "assert not [m for m in sys.modules if m.startswith('engine.bench')], sorted(sys.modules)"
    )
    assert "console" in loaded


def test_every_console_module_imports_without_the_app_first() -> None:
    """No import circle: each screen, modal and widget imports on its own."""
    for path in sorted((REPO / "console").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        if module.endswith("latency"):
            continue
        code = f"import {module}\nimport sys\nassert 'console.app' not in sys.modules or {module!r} == 'console.app', sorted(m for m in sys.modules if m.startswith('console'))"
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
