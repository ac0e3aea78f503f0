"""The real console in a real terminal (tmux): colours, and keys as a terminal sends them.

Pilot renders without a terminal and sends keys as events; colours are decided and escape
sequences parsed where the app meets one, so these run ``wfe`` in tmux, read the escape
codes it drew and send it keys through tmux.
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

from console import driver
from engine import definition, store
from tests.support import EXAMPLES

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

    def start(env: str) -> tuple[str, list[str]]:
        """Open the console with ``env``, go to the workflows view; its session, SGR codes."""
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
        return session, SGR.findall(screen)

    yield start
    for session in sessions:
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(0.5)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)


def test_no_color_draws_no_colour_at_all_and_the_cursor_by_reverse(console_in_tmux) -> None:
    assert _colours(console_in_tmux("COLORTERM=truecolor")[1]) != set()  # colours, normally
    _, codes = console_in_tmux("NO_COLOR=1 COLORTERM=truecolor")
    assert _colours(codes) == set()
    assert any("7" in code.split(";") for code in codes)  # the table's cursor row


def test_textual_color_system_standard_keeps_to_the_16_colours(console_in_tmux) -> None:
    colours = _colours(console_in_tmux("TEXTUAL_COLOR_SYSTEM=standard")[1])
    assert colours and all(";" not in c for c in colours), colours


def _shows(session: str, key: str, text: str, gone: str | None = None) -> str:
    """Send ``key``; wait until the screen shows ``text`` (and not ``gone``)."""
    subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
    deadline = time.monotonic() + 10
    while True:
        screen = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout
        if text in screen and (gone is None or gone not in screen):
            return screen
        assert time.monotonic() < deadline, f"after {key}, no {text!r}:\n{screen}"
        time.sleep(0.05)


def test_esc_and_arrow_keys_from_a_terminal(console_in_tmux) -> None:
    # The console reads keys with its own input loop (console/driver.py), which delivers
    # a lone Esc after 50 ms: sequences (arrows) must still arrive whole.
    session, _ = console_in_tmux("")
    _shows(session, "Down", "fan-out")  # the workflows view, cursor on its second row
    _shows(session, "Enter", "name: failure-hook")  # the second workflow: Down was Down
    _shows(session, "Escape", "flaky-retry", gone="name: failure-hook")  # Esc: back
    _shows(session, "?", "Keys: ")
    _shows(session, "Escape", "fan-out", gone="Keys: ")  # Esc closes the help


def test_the_input_loop_sleeps_only_until_a_pending_esc_falls_due() -> None:
    assert driver.next_wait(None, 5.0) == driver.IDLE_WAIT  # nothing pending: Textual's wait
    assert driver.next_wait(5.03, 5.0) == pytest.approx(0.03)  # an Esc due in 30 ms
    assert driver.next_wait(4.9, 5.0) == 0.0  # overdue: at once
    assert driver.next_wait(9.0, 5.0) == driver.IDLE_WAIT
    if driver.driver_class() is None:
        pytest.skip("this Textual's input internals differ: the console keeps its driver")
    from textual.drivers.linux_driver import LinuxDriver

    chosen = driver.driver_class()
    assert chosen is not None and issubclass(chosen, LinuxDriver)


def _pane(session: str) -> str:
    """The pane's text, each wrapped line joined again (-J)."""
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-J", "-t", session], capture_output=True, text=True
    ).stdout


def _until(session: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while text not in (screen := _pane(session)):
        assert time.monotonic() < deadline, f"no {text!r}:\n{screen}"
        time.sleep(0.05)
    return screen


@pytest.fixture
def shell_in_tmux(tmp_path: Path) -> Iterator:
    """A shell in tmux at 80x24 that runs ``command`` (then stays); its session."""
    sessions: list[str] = []

    def start(command: str) -> str:
        session = f"wfe-shell-{len(sessions)}-{time.monotonic_ns()}"
        sessions.append(session)
        env = f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path))} XDG_STATE_HOME={shlex.quote(str(tmp_path))}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "sh"],
            check=True,
        )
        subprocess.run(
            ["tmux", "send-keys", "-t", session, f"{env} {command}", "Enter"], check=True
        )
        return session

    yield start
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)


WFE = f"{shlex.quote(sys.executable)} -m engine.cli"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite:///{tmp}/broken.db", "cannot open the database {tmp}/broken.db: file is not a"),
        ("postgresql://127.0.0.1:1/x", "127.0.0.1"),
    ],
    ids=["broken-sqlite", "unreachable-postgresql"],
)
def test_a_store_that_cannot_be_opened_is_said_on_the_terminal_after_exit(
    shell_in_tmux, tmp_path: Path, url: str, reason: str
) -> None:
    if url.startswith("postgresql"):
        pytest.importorskip("psycopg")
    (tmp_path / "broken.db").write_text("not a database " * 200)
    url, reason = url.format(tmp=tmp_path), reason.format(tmp=tmp_path)
    session = shell_in_tmux(f'{WFE} --db {shlex.quote(url)}; echo "exit=$?"')
    _until(session, "cannot open its store")
    subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
    screen = _until(session, "exit=1")  # (the typed command shows "exit=$?")
    # (a shell slow to print its prompt may print it just before the line)
    errors = [line for line in screen.splitlines() if line.lstrip("#$ ").startswith("error: ")]
    assert len(errors) == 1 and reason in errors[0], screen


def test_q_in_a_terminal_asks_and_leave_hands_the_work_to_a_worker(
    shell_in_tmux, tmp_path: Path
) -> None:
    from tests.support import Wfe, add, wait_until

    url = f"sqlite:///{tmp_path / 's.db'}"
    db = store.open_store(url)
    try:
        marker = tmp_path / "started"
        run = f"if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi"
        add(db, f"name: slow\nsteps:\n  - {{id: a, run: '{run}'}}\n  - {{id: b, log: done}}\n")
        (e,) = store.create_executions(db, store.get_workflow(db, "slow"), [{}])
        session = shell_in_tmux(f'WFE_DATABASE_URL={shlex.quote(url)} {WFE}; echo "exit=$?"')
        wait_until(marker.exists)  # the console runs it (no worker is alive)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        _until(session, "1 execution is running here")
        subprocess.run(["tmux", "send-keys", "-t", session, "l"], check=True)
        _until(session, "exit=0")
        left = store.get_execution(db, e.id)
        assert (left.status, left.error) == ("running", None)
        worker = Wfe(url).start("worker")
        try:
            wait_until(lambda: store.get_execution(db, e.id).status == "succeeded", timeout=30)
        finally:
            worker.terminate()
            worker.communicate(timeout=30)
    finally:
        db.close()
