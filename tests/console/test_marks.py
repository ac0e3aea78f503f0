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


def test_rerun_acts_on_every_marked_execution_with_its_params(db: store.Store, make_app) -> None:
    add(db, "name: w\nparams: {n: 0}\nsteps:\n  - {id: a, log: 'n=${{ params.n }}'}\n")
    add(db, "name: paused\nsteps:\n  - {id: a, log: x}\n")
    made = store.create_executions(db, store.get_workflow(db, "w"), [{"n": 1}, {"n": 2}])
    disabled = store.create_execution(db, store.get_workflow(db, "paused"), {})
    store.set_active(db, "paused", False)
    for e in [*made, disabled]:
        store.request_cancel(db, e.id or 0)  # finished, so they can be re-run
    ids = [made[0].id, made[1].id, disabled.id]

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("space", "space", "space", "R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        question = app.screen.question
        assert f"Re-run 2 executions with their params: {ids[1]} (w), {ids[0]} (w)?" in question
        assert f"Left out: {ids[2]} (paused is disabled)" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: store.list_executions(db, status="succeeded")[1] == 2)
        assert any("Started here: 2 re-run(s)" in n for n in notes(app))

    drive(make_app(db), scenario)
    again = store.list_executions(db, status="succeeded")[0]
    assert sorted(e.params["n"] for e in again) == [1, 2]  # each with its own params
