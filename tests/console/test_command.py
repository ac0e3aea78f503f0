"""`:` as a command line: views, one execution or workflow, history and completion."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import WorkflowConsole
from console.modals.command import CommandModal, parse
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.executions import ExecutionsScreen
from console.screens.workflow_detail import WorkflowDetailScreen
from engine import store
from tests.console.support import drive, notes, rows, settle


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (":e 3", ("execution", "3")),
        ("exec 12", ("execution", "12")),
        ("executions #7", ("execution", "7")),
        ("executions failed", ("executions", "failed")),
        ("runs failed backup", ("executions", "failed backup")),
        ("wf backup", ("workflow", "backup")),
        ("w backup", ("workflows", "backup")),
        ("q", ("quit", None)),
        ("h", ("health", None)),
    ],
)
def test_parse(typed: str, meant: tuple[str, str | None]) -> None:
    assert parse(typed) == meant


@pytest.mark.parametrize(
    ("typed", "said"),
    [("e", "which execution?"), ("wf", "which workflow?"), ("zzz", "no view 'zzz'")],
)
def test_parse_says_what_is_missing(typed: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse(typed)


def test_colon_opens_a_workflow_filters_runs_and_remembers(seeded: store.Store, make_app) -> None:
    CommandModal.history.clear()

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("colon", *"wf fan-out", "enter")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowDetailScreen)
        assert app.screen.workflow_name == "fan-out"
        await pilot.press("escape", "colon", *"runs failed flaky", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        assert (screen.status, screen.workflow) == ("failed", "flaky")
        assert [row[1] for row in rows(screen.query_one("#table"))] == ["flaky-retry"]
        # Up brings back what was typed, newest first.
        await pilot.press("colon", "up")
        assert app.screen.query_one(Input).value == "runs failed flaky"
        await pilot.press("up")
        assert app.screen.query_one(Input).value == "wf fan-out"
        await pilot.press("down", "down")
        assert app.screen.query_one(Input).value == ""
        # A workflow's name is offered as it is typed.
        await pilot.press(*"wf rel")
        await settle(pilot)
        await pilot.press("right", "enter")  # → takes the suggestion
        await settle(pilot)
        assert isinstance(app.screen, WorkflowDetailScreen)
        assert app.screen.workflow_name == "release-artifact"
        await pilot.press("escape", "colon", *"e 1", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)

    drive(make_app(seeded, embedded=False), scenario)


def test_colon_wf_of_no_workflow_says_so(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("colon", *"wf nope", "enter")
        await settle(pilot)
        assert "There is no workflow 'nope'" in notes(app)
        assert not isinstance(app.screen, WorkflowDetailScreen)

    drive(make_app(seeded, embedded=False), scenario)
