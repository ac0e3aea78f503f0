"""`y` copies what is under the cursor, through OSC 52 (which works over SSH)."""

from __future__ import annotations

import base64
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from console.app import WorkflowConsole
from engine import definition, store
from tests.console.support import drive, notes, settle, wait_for
from tests.support import EXAMPLES, add, run


def test_y_copies_the_execution_or_workflow_under_the_cursor(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "y")
        await settle(pilot)
        assert app.clipboard == "5"
        assert "Copied execution id: 5" in notes(app)
        await pilot.press("2", "j", "y")
        await settle(pilot)
        assert app.clipboard == "flaky-retry"
        assert "Copied workflow name: flaky-retry" in notes(app)
        await pilot.press("1", "y")  # the dashboard's recent executions
        await settle(pilot)
        assert app.clipboard == "5"

    drive(make_app(seeded, embedded=False), scenario)


def test_y_in_an_execution_copies_the_step_s_output(db: store.Store, make_app) -> None:
    import trio

    add(db, "name: out\nsteps:\n  - {id: a, run: 'echo release-4.2'}\n")
    trio.run(run, db, "out")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == "release-4.2"
        assert "Copied the output of a: release-4.2" in notes(app)

    drive(make_app(db, embedded=False), scenario)


def test_the_console_writes_osc_52_to_its_terminal(tmp_path: Path) -> None:
    """In a pseudo-terminal, as over SSH: the escape sequence itself, read from the pty."""
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    db = store.open_store(url)
    store.save_workflows(
        db, [(definition.load(f), None) for f in definition.workflow_files(EXAMPLES)]
    )
    db.close()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {
        **os.environ,
        "WFE_DATABASE_URL": url,
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path),
        "TERM": "xterm-256color",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli"],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    wanted = b"\x1b]52;c;" + base64.b64encode(b"deploy-hosts") + b"\x07"
    seen = b""

    def read_until(needle: bytes, timeout: float = 20) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {needle!r} in {seen[-400:]!r}"
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                seen += os.read(master, 65536)

    try:
        read_until(b"Workflows")
        os.write(master, b"2")
        read_until(b"release-artifact")
        os.write(master, b"y")
        read_until(wanted)
    finally:
        os.write(master, b"q")
        time.sleep(0.5)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        os.close(master)


def test_ctrl_s_saves_the_log_as_wfe_logs_prints_it(
    seeded: store.Store, make_app, tmp_path: Path, monkeypatch
) -> None:
    from click.testing import CliRunner

    from engine import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.log").write_text("mine\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        box = app.screen.query_one("#path", Input)
        assert box.value == str(tmp_path / "wfe-5-flaky-retry.log")  # the default
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "wfe-5-flaky-retry.log").exists())
        await settle(pilot)
        assert any(n.startswith("Saved 8 line(s) of log of execution 5 to") for n in notes(app))
        # A file that exists is not replaced on the first Enter.
        await pilot.press("ctrl+s")
        await settle(pilot)
        box = app.screen.query_one("#path", Input)
        box.value = str(tmp_path / "kept.log")
        await pilot.press("enter")
        await settle(pilot)
        assert "exists: Enter again replaces it" in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        await settle(pilot)
        assert (tmp_path / "kept.log").read_text() == "mine\n"

    drive(make_app(seeded, embedded=False), scenario)
    saved = (tmp_path / "wfe-5-flaky-retry.log").read_text()
    printed = (
        CliRunner()
        .invoke(cli.main, ["--db", seeded.url, "logs", "5"], env={"NO_COLOR": "1"})
        .stdout
    )
    assert saved == printed and "attempt 3: ok" in saved
