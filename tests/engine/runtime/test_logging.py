"""An unexpected error in a runner: logged with its traceback, one line for the user."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from engine import store
from engine.runtime import step_loop
from tests.support import REPO, add, run


@pytest.mark.trio
async def test_a_bug_in_the_executor_is_logged_with_its_traceback(
    db: store.Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    add(db, "name: wf\nsteps:\n  - {id: a, log: x}\n")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the step loop")

    monkeypatch.setattr(step_loop, "run_step", broken)
    with caplog.at_level(logging.ERROR, logger="engine"):
        handle = await run(db, "wf")
    e = store.get_execution(db, handle.id)
    assert (e.status, e.error) == ("failed", "internal error: RuntimeError: a bug in the step loop")
    (record,) = [r for r in caplog.records if r.name == "engine.runtime.executor"]
    assert record.getMessage() == f"execution {handle.id} of wf failed inside wfe"
    assert record.exc_info is not None  # the traceback is logged, the bug's own included
    assert 'raise RuntimeError("a bug in the step loop")' in caplog.text


def test_wfe_worker_logs_to_stderr_with_the_time() -> None:
    code = (
        "import logging\n"
        "from engine.cli import running\n"
        "running.log_to_stderr()\n"
        "logging.getLogger('engine.runtime.worker').info('worker w started')\n"
        "try:\n    raise RuntimeError('boom')\n"
        "except RuntimeError:\n    logging.getLogger('engine.runtime.executor').exception('oops')\n"
        "logging.getLogger('engine.x').debug('not shown')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0][19:] == " worker w started"  # after "YYYY-MM-DD HH:MM:SS"
    assert lines[1].endswith(" oops") and lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom" and "not shown" not in proc.stderr
