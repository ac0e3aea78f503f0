"""The console's entry point: its log goes to a file in the state folder, never the screen."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import main


@pytest.fixture
def restored_logging() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("engine", "console")]
    saved = [(log.handlers[:], log.level, log.propagate) for log in loggers]
    yield
    for log, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        for handler in log.handlers:
            if handler not in handlers:
                handler.close()
        log.handlers[:], log.level, log.propagate = handlers, level, propagate


def test_the_console_logs_to_its_file_only(
    tmp_path: Path, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = main.log_to_file(tmp_path / "state")
    assert path == tmp_path / "state" / "console.log"
    try:
        raise ValueError("a broken widget")
    except ValueError:
        logging.getLogger("console.screens.dashboard").exception("drawing failed")
    logging.getLogger("engine.runtime.session").warning("heartbeat failed (locked); retrying")
    for handler in logging.getLogger("console").handlers:
        handler.flush()
    text = path.read_text()
    assert "ERROR console.screens.dashboard: drawing failed" in text
    assert "ValueError: a broken widget" in text  # the traceback, in the file
    assert "WARNING engine.runtime.session: heartbeat failed (locked); retrying" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert capsys.readouterr() == ("", "")  # nothing on the terminal


def test_an_unwritable_state_folder_still_keeps_the_log_off_the_terminal(
    tmp_path: Path, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state").write_text("a file where the folder would be")
    assert main.log_to_file(tmp_path / "state") is None
    logging.getLogger("engine.runtime.session").warning("heartbeat failed")
    assert capsys.readouterr() == ("", "")


def test_a_console_that_crashed_exits_1_and_says_where_its_traceback_is(
    tmp_path: Path, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from console.app import WorkflowConsole
    from engine import store

    def broken_probe() -> int:
        raise RuntimeError("a broken memory probe")

    log = main.log_to_file(tmp_path / "state")
    db = store.open_store(f"sqlite:///{tmp_path / 'wfe.db'}")
    app = WorkflowConsole(db, memory=broken_probe, embedded_executor=False)

    async def crash() -> None:
        async with app.run_test() as pilot:
            await pilot.press("4")  # Health draws the memory: the probe raises
            await pilot.pause(0.5)

    from textual.worker import WorkerFailed

    with pytest.raises(WorkerFailed, match="a broken memory probe"):
        asyncio.run(crash())
    db.close()
    assert main.exit_status(app, log) == 1
    # Textual prints its own traceback first; the last line says where ours is.
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: the console stopped on an unexpected error; the traceback is in {log}"
    )
    for handler in logging.getLogger("console").handlers:
        handler.flush()
    assert "a broken memory probe" in (tmp_path / "state" / "console.log").read_text()
