"""Floods: whatever a step prints, it is read in linear time and memory stays bounded.

A real ``wfe run`` reads each flood; its peak memory comes from the kernel (wait4) and
is compared with the same command's on a step that prints nothing. The step's own
timeout is the clock: a quadratic reader runs past it (50 MB without a newline took
20 s before).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import store
from tests.support import REPO, Wfe


def peak_rss_mb(wfe: Wfe, *args: str) -> tuple[int, float, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        env=wfe.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    printed = proc.stdout.read().decode(errors="replace")
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, printed


@pytest.fixture
def floods(wfe: Wfe, tmp_path: Path) -> Wfe:
    path = tmp_path / "floods.yaml"
    path.write_text(
        "name: floods\n"
        "params: {kind: none}\n"
        "timeout: 2m\n"
        "steps:\n"
        "  - id: flood\n"
        "    timeout: 30s\n"
        "    run: |\n"
        "      case ${{ params.kind }} in\n"
        "        none) true ;;\n"
        "        line) head -c 50000000 /dev/zero | tr '\\0' a ;;\n"
        "        lines) { yes 'a line of the flood' || true; } | head -c 200000000 ;;\n"
        "        binary) head -c 20000000 /dev/urandom ;;\n"
        "        stderr) head -c 50000000 /dev/zero | tr '\\0' e >&2 ;;\n"
        "      esac\n"
    )
    assert wfe("workflow", "add", str(path)).exit_code == 0
    return wfe


@pytest.mark.parametrize("kind", ["line", "lines", "binary", "stderr"])
def test_a_flood_is_read_in_time_and_memory_stays_bounded(floods: Wfe, kind: str) -> None:
    code, quiet, _ = peak_rss_mb(floods, "run", "floods", "-q", "-p", "kind=none")
    assert code == 0
    code, loud, printed = peak_rss_mb(floods, "run", "floods", "-q", "-p", f"kind={kind}")
    assert code == 0, printed
    assert loud - quiet < 60, (quiet, loud)  # MB: 200 MB printed grew the worker by 114-142
    db = store.open_store(floods.url)
    try:
        (execution, *_), _total = store.list_executions(db, limit=1)
        assert execution.status == "succeeded"
        (step,) = store.step_runs(db, execution.id)
        log = store.log_lines(db, execution.id, limit=30_000)
    finally:
        db.close()
    if kind == "line":
        assert step.output.endswith("[output truncated: 50,000,000 bytes, the first 65,536 kept]")
        assert [line.text[-30:] for line in log] == ["a [line cut: 50,000,000 bytes]"]
    if kind == "lines":
        assert step.output.endswith("[output truncated: 200,000,000 bytes, the first 65,536 kept]")
        assert len(log) == 20_001 and log[-1].text.startswith("[log truncated: more than 20,000")
    if kind == "binary":
        assert len(log) <= 20_001  # the bytes are stored as text, whatever they are
    if kind == "stderr":
        assert step.output == ""
        assert log[0].stream == "stderr" and log[0].text.endswith("[line cut: 50,000,000 bytes]")
