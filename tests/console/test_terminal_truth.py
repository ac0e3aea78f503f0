"""In a real terminal (tmux): keys in a burst, and a view that is fresh when it is shown.

tmux's ``send-keys`` writes a whole string to the terminal at once: the console reads it
in one go, as it would a paste or keys bunched over SSH.
"""

from __future__ import annotations

import subprocess
import sys
import time

from tests.console.test_terminal import _shows, console_in_tmux, pytestmark  # noqa: F401


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
    ).stdout


def test_keys_after_slash_in_one_burst_are_typed_into_the_filter(console_in_tmux) -> None:  # noqa: F811
    session, _ = console_in_tmux("")  # on the workflows view
    # `a` would disable a workflow, `r` open the run prompt, `]` turn the page.
    screen = _shows(session, "/ar]", "ar]")
    assert "Run fan-out" not in screen and "Run " not in screen.splitlines()[0]
    screen = _shows(session, "Enter", "matching 'ar]'")
    assert " no " not in screen  # nothing was disabled


def test_the_dashboard_is_fresh_the_moment_it_is_shown(console_in_tmux, tmp_path) -> None:  # noqa: F811
    session, _ = console_in_tmux("")  # the dashboard is out of sight
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--db", url, "run", "fan-out"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    subprocess.run(["tmux", "send-keys", "-t", session, "1"], check=True)
    time.sleep(0.3)
    screen = _screen(session)
    recent = screen[screen.index("Recent executions") :]
    assert "fan-out" in recent and "✓ succeeded" in recent, screen
