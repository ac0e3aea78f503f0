"""Contexts in the console: the title names the store; ``:ctx`` lists and switches."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from console.app import WorkflowConsole
from console.modals.contexts import ContextModal
from console.modals.quit import QuitModal
from console.widgets.title import Title
from engine import contexts, definition, store
from tests.console.support import drive, settle, wait_for
from tests.support import EXAMPLES, add


@pytest.fixture
def two_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config.toml naming a second store, ``other``, holding the examples."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(contexts.ENV_CONTEXT, raising=False)
    other = tmp_path / "other.db"
    db = store.open_store(f"sqlite:///{other}")
    store.save_workflows(db, [(definition.load(EXAMPLES / "fan-out.yaml"), None)])
    db.close()
    path = tmp_path / "config" / "workflow-engine" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(f'[contexts.other]\nurl = "{other}"\nread_only = true\n')
    return other


def _command(pilot: Pilot[Any], text: str) -> Any:
    return pilot.press("colon", *text, "enter")


def test_every_view_names_its_store_first(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        for key in ("1", "2", "3", "4"):
            await pilot.press(key)
            await settle(pilot)
            title = str(app.screen.query_one(Title).render())
            assert title.startswith("prod │ "), title
        await pilot.press("3", "enter")
        await settle(pilot)
        assert str(app.screen.query_one(Title).render()).startswith("prod │ Execution")

    drive(make_app(seeded, embedded=False, context="prod"), scenario)


def test_ctx_lists_the_stores_and_enter_switches(two_stores: Path, db, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await _command(pilot, "ctx")
        await settle(pilot)
        assert isinstance(app.screen, ContextModal)
        options = app.screen.query_one(OptionList)
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert shown[0].startswith("● default") and "other.db  read-only" in shown[1]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.switch_to == "other" and not app.is_running  # main.run reopens on it

    drive(make_app(db, embedded=False), scenario)


def test_switching_with_work_running_here_asks_first(two_stores: Path, db, make_app) -> None:
    add(db, "name: w\nsteps:\n  - {id: a, run: 'sleep 30'}\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r", "enter")
        await wait_for(pilot, lambda: app.host.in_hand()[0] == 1)
        await _command(pilot, "ctx other")
        await settle(pilot)
        assert isinstance(app.screen, QuitModal)
        await pilot.press("escape")  # stay: on this store, the work goes on
        await settle(pilot)
        assert app.switch_to is None and app.is_running
        await _command(pilot, "ctx nope")
        await settle(pilot)
        assert any("no context 'nope'" in n for n in app.shown)
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("c")  # cancel what runs here, and quit
        await settle(pilot)

    drive(make_app(db), scenario)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux to run the console")
def test_the_console_reopens_on_another_store_in_a_real_terminal(
    two_stores: Path, tmp_path: Path
) -> None:
    session = f"wfe-ctx-{time.monotonic_ns()}"
    command = (
        f"env XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'config'))}"
        f" XDG_STATE_HOME={shlex.quote(str(tmp_path))}"
        f" WFE_DATABASE_URL={shlex.quote(str(tmp_path / 'default.db'))}"
        f" {shlex.quote(sys.executable)} -m engine.cli; sleep 5"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True
    )

    def screen_shows(text: str) -> str:
        deadline = time.monotonic() + 20
        while True:
            shown = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if text in shown:
                return shown
            assert time.monotonic() < deadline, f"no {text!r} on:\n{shown}"
            time.sleep(0.1)

    def keys(*sent: str) -> None:
        for key in sent:
            subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
            time.sleep(0.3)

    try:
        screen_shows("default │ WorkflowEngine")
        keys(":", "ctx other", "Enter")
        screen_shows("other · read-only │ WorkflowEngine")
        keys("2")
        assert "fan-out" in screen_shows("fan-out")  # the other store's workflow
        keys("q")
        time.sleep(1)
        assert "WorkflowEngine" not in screen_shows("")  # quit means quit: no reopening
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
