"""`wfe console --read-only`: look, do not touch."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from textual.pilot import Pilot

from console import keys
from console.app import WorkflowConsole
from console.modals.confirm import ConfirmModal
from console.modals.params import ParamsModal
from console.widgets.key_bar import KeyBar
from engine import cli, store
from tests.console.support import drive, notes, settle
from tests.support import add


def test_every_action_that_writes_is_hidden_and_refused(seeded: store.Store, make_app) -> None:
    add(seeded, "name: deploy\nsteps:\n  - {id: gate, approval: 'Ship it?'}\n")
    waiting = store.create_execution(seeded, store.get_workflow(seeded, "deploy"), {})
    store.request_approval(seeded, waiting.id or 0, "gate", "deploy", "Ship it?")
    app = make_app(seeded, read_only=True)
    before = [(e.id, e.status) for e in store.list_executions(seeded)[0]]
    workflows = {w.workflow.name: w.workflow.active for w in store.list_workflows(seeded)[0]}

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert app.host is None  # no work runs in a read-only console
        assert "read-only" in str(app.screen.query_one(".title").render())
        for view, refused in (
            ("2", ("r", "a", "ctrl+d")),
            ("3", ("c", "R")),
            ("1", ("A", "X")),
        ):
            await pilot.press(view)
            await settle(pilot)
            bar = str(app.screen.query_one(KeyBar).render())
            for word in ("Run", "Enable/disable", "Remove", "Cancel", "Re-run", "Approve"):
                assert word not in bar, (view, bar)
            for key in refused:
                await pilot.press(key)
                await settle(pilot)
                assert not isinstance(app.screen, ConfirmModal | ParamsModal), key
        said = [n for n in notes(app) if n.startswith("This console is read-only")]
        assert len(said) == 7, notes(app)  # each key refused, saying so

    drive(app, scenario)
    assert store.get_approval(seeded, waiting.id or 0, "gate").status == "pending"
    assert [(e.id, e.status) for e in store.list_executions(seeded)[0]] == before
    assert {w.workflow.name: w.workflow.active for w in store.list_workflows(seeded)[0]} == (
        workflows
    )


def test_writes_names_the_actions_that_change_the_store() -> None:
    assert keys.writes("decide(True)") and keys.writes("remove") and keys.writes("app.cancel")
    assert not keys.writes("copy") and not keys.writes("save_log") and not keys.writes("quit")


def test_the_console_command_takes_read_only() -> None:
    shown = CliRunner().invoke(cli.main, ["console", "--help"]).stdout
    assert "--read-only" in shown
