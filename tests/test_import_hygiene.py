from __future__ import annotations

import subprocess
import sys


def test_engine_never_imports_the_console() -> None:
    code = (
        "import engine, engine.cli, sys; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'console', 'themes')]; "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
