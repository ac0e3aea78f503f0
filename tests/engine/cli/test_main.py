"""The ``wfe`` group itself: help, and ``python -m engine.cli``."""

from __future__ import annotations

import pytest

from tests.support import Wfe


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["executions", "list", "--help"]])
def test_help_works(wfe: Wfe, args: list[str]) -> None:
    proc = wfe(*args)
    assert proc.exit_code == 0 and "Usage: " in proc.stdout


def test_python_m_engine_cli_is_wfe(wfe: Wfe) -> None:
    # A real process: the module's entry point, and the name it gives itself.
    proc = wfe.process("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: wfe [OPTIONS] [COMMAND] [ARGS]...\n")
