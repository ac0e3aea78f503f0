"""Marks: space marks a row, v marks up to the cursor; one confirmation acts on them all."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from console.app import WorkflowConsole
from console.modals.confirm import ConfirmModal
from console.widgets import tables
from engine import store
from tests.console.support import drive, notes, rows, settle, wait_for
from tests.support import add


def test_cancel_acts_on_every_marked_execution_after_one_question(
    db: store.Store, make_app
) -> None:
    add(db, "name: wait\nsteps:\n  - {id: a, log: x}\n")
    wf = store.get_workflow(db, "wait")
    queued = [e.id for e in store.create_executions(db, wf, [{}, {}, {}, {}])]

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(tables.Table)
        await pilot.press("space", "space")  # the two newest (each space moves down)
        await settle(pilot)
        assert table.marks() == [str(queued[3]), str(queued[2])]
        assert rows(table)[0][0].startswith("● ") and rows(table)[2][0].startswith("  ")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert f"Cancel 2 executions: {queued[3]}, {queued[2]}?" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: store.list_executions(db, status="cancelled")[1] == 2)
        assert table.marks() == []  # the marks went with the action
        assert f"Cancelling 2 executions: {queued[3]}, {queued[2]}" in notes(app)

    drive(make_app(db, embedded=False), scenario)
    statuses = {e.id: e.status for e in store.list_executions(db)[0]}
    assert [statuses[i] for i in queued] == ["queued", "queued", "cancelled", "cancelled"]


def test_v_marks_a_range_and_workflows_are_disabled_then_removed_together(
    seeded: store.Store, make_app
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(tables.Table)
        await pilot.press("space", "j", "v")  # fan-out, then down to release-artifact
        assert table.marks() == ["fan-out", "flaky-retry", "release-artifact"]
        await pilot.press("U")
        assert table.marks() == []
        await pilot.press("g", "space", "space")
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "Disable 2 workflows: fan-out, flaky-retry?" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: not store.get_workflow(seeded, "flaky-retry").active)
        assert not store.get_workflow(seeded, "fan-out").active
        await pilot.press("g", "space", "space", "ctrl+d")
        await settle(pilot)
        assert "Remove 2 workflows and all their executions" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: store.list_workflows(seeded)[1] == 2)
        await pilot.press("escape")  # a question that was asked is answered; Esc is harmless

    drive(make_app(seeded, embedded=False), scenario)
    assert {s.workflow.name for s in store.list_workflows(seeded)[0]} == {
        "release-artifact",
        "service-check",
    }
