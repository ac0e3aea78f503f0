"""The real console in a real terminal (tmux): what NO_COLOR and TEXTUAL_COLOR_SYSTEM do.

Pilot renders without a terminal; colours are decided where the app meets one, so these
run ``wfe`` in tmux and read the escape codes it drew.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import definition, store
from tests.console.conftest import EXAMPLES

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="needs tmux to run the console in a terminal"
)

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _colours(codes: list[str]) -> set[str]:
    """The colour parameters among SGR codes (39/49, the terminal's defaults, are not)."""
    found = set()
    for code in codes:
        params = code.split(";")
        i = 0
        while i < len(params):
            p = params[i]
            if p in ("38", "48"):  # extended: 5;n or 2;r;g;b
                found.add(";".join(params[i : i + (3 if params[i + 1] == "5" else 5)]))
                i += 3 if params[i + 1] == "5" else 5
                continue
            if p.isdigit() and (30 <= int(p) <= 37 or 40 <= int(p) <= 47 or 90 <= int(p) <= 107):
                found.add(p)
            i += 1
    return found


@pytest.fixture
def console_in_tmux(tmp_path: Path) -> Iterator:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    db = store.open_store(url)
    store.save_workflows(
        db, [(definition.load(f), None) for f in definition.workflow_files(EXAMPLES)]
    )
    db.close()
    sessions: list[str] = []

    def start(env: str) -> list[str]:
        """Open the console with ``env``, go to the workflows view; the SGR codes drawn."""
        session = f"wfe-test-{len(sessions)}-{time.monotonic_ns()}"
        sessions.append(session)
        command = (
            f"env -u NO_COLOR -u TEXTUAL_COLOR_SYSTEM {env} WFE_DATABASE_URL={shlex.quote(url)}"
            f" XDG_CONFIG_HOME={shlex.quote(str(tmp_path))}"
            f" {shlex.quote(sys.executable)} -m engine.cli"
        )
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command],
            check=True,
        )
        screen = ""
        deadline = time.monotonic() + 20
        while "fan-out" not in screen:
            assert time.monotonic() < deadline, f"the console did not open:\n{screen}"
            subprocess.run(["tmux", "send-keys", "-t", session, "2"], check=True)
            time.sleep(0.3)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-e", "-p", "-t", session],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        return SGR.findall(screen)

    yield start
    for session in sessions:
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(0.5)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)


def test_no_color_draws_no_colour_at_all_and_the_cursor_by_reverse(console_in_tmux) -> None:
    assert _colours(console_in_tmux("COLORTERM=truecolor")) != set()  # colours, normally
    codes = console_in_tmux("NO_COLOR=1 COLORTERM=truecolor")
    assert _colours(codes) == set()
    assert any("7" in code.split(";") for code in codes)  # the table's cursor row


def test_textual_color_system_standard_keeps_to_the_16_colours(console_in_tmux) -> None:
    colours = _colours(console_in_tmux("TEXTUAL_COLOR_SYSTEM=standard"))
    assert colours and all(";" not in c for c in colours), colours
