"""Quitting with work in hand: the console asks, and leaving hands the work to the next runner.

Real parts: a SQLite file, the embedded executor running real shell steps, and a real
``wfe worker`` process that takes over what the console left.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from console.app import WorkflowConsole
from console.modals.quit import QuitModal
from engine import store
from tests.console.support import drive, settle, wait_for
from tests.support import Wfe, add, wait_until

SLOW = "name: slow\nsteps:\n  - {id: a, run: 'sleep 1'}\n  - {id: b, log: done}\n"
GATE = (
    "name: gate\nsteps:\n  - {id: ask, approval: {prompt: 'Ship it?'}}\n"
    "  - {id: after, log: shipped}\n"
)


def running_here(db: store.Store, ids: list[int]) -> bool:
    """Each of ``ids`` runs, held by a console; step ``a`` or ``ask`` under way."""
    rows = [store.get_execution(db, i) for i in ids]
    return all(e.status == "running" and (e.runner or "").startswith("console:") for e in rows)


def test_q_with_work_in_hand_asks_and_leaving_hands_it_to_a_worker(
    db: store.Store, make_app
) -> None:
    add(db, SLOW)
    add(db, GATE)
    (slow,) = store.create_executions(db, store.get_workflow(db, "slow"), [{}])
    (gate,) = store.create_executions(db, store.get_workflow(db, "gate"), [{}])
    app = make_app(db)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()  # no worker alive: the console claims both
        await wait_for(pilot, lambda: running_here(db, [slow.id, gate.id]))
        await wait_for(pilot, lambda: bool(store.pending_approvals(db)))
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, QuitModal)
        shown = str(app.screen.query_one("#quit-question", Static).render())
        assert shown.startswith("2 executions are running here (1 waiting for approval).")
        await pilot.press("l")
        await wait_for(pilot, lambda: not app.is_running)

    drive(app, scenario)
    assert app.return_code == 0
    # Nothing was recorded for them: still running, their steps where they were, the
    # approval still pending, and no runner alive holds them.
    for e in (store.get_execution(db, slow.id), store.get_execution(db, gate.id)):
        assert (e.status, e.error) == ("running", None)
        assert e.runner is not None and e.runner.endswith(":left")
    assert [a.execution_id for a in store.pending_approvals(db)] == [gate.id]
    assert [s.status for s in store.step_runs(db, gate.id)] == ["waiting"]

    worker = Wfe(db.url).start("worker")
    started = time.monotonic()
    try:
        wait_until(lambda: not store.get_execution(db, slow.id).runner.endswith(":left"))
        took = time.monotonic() - started
        wait_until(lambda: store.get_execution(db, slow.id).status == "succeeded", timeout=30)
        store.decide(db, gate.id, "ask", approve=True, reason=None, by="test")
        wait_until(lambda: store.get_execution(db, gate.id).status == "succeeded", timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert took < 5, took  # at once: the worker's start-up, no lease waited for
    assert f"taking over execution {slow.id}" in err
    assert [(r.step_id, r.attempt, r.status) for r in store.step_runs(db, slow.id)] == [
        ("a", 1, "failed"),  # ended when the console left: run again by the worker
        ("a", 2, "succeeded"),
        ("b", 1, "succeeded"),
    ]


def test_q_then_c_cancels_what_runs_here(db: store.Store, make_app) -> None:
    add(db, "name: long\nsteps:\n  - {id: a, run: 'sleep 60'}\n")
    (e,) = store.create_executions(db, store.get_workflow(db, "long"), [{}])
    app = make_app(db)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await wait_for(pilot, lambda: running_here(db, [e.id]))
        await pilot.press("q")
        await settle(pilot)
        shown = str(app.screen.query_one("#quit-question", Static).render())
        assert shown.startswith("1 execution is running here.")
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.is_running)

    drive(app, scenario)
    done = store.get_execution(db, e.id)
    assert (done.status, done.error) == ("cancelled", "cancelled: the executor stopped")


def test_q_then_esc_stays_and_q_with_nothing_in_hand_quits_at_once(
    db: store.Store, make_app
) -> None:
    add(db, "name: long\nsteps:\n  - {id: a, run: 'sleep 60'}\n")
    (e,) = store.create_executions(db, store.get_workflow(db, "long"), [{}])

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await wait_for(pilot, lambda: running_here(db, [e.id]))
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("q")  # again while it asks: one question, still
        await settle(pilot)
        assert len([s for s in app.screen_stack if isinstance(s, QuitModal)]) == 1
        await pilot.press("escape")
        await settle(pilot)
        assert app.is_running and not isinstance(app.screen, QuitModal)
        assert app.host.running and store.get_execution(db, e.id).status == "running"
        app.host.cancel(e.id)  # nothing in hand any more: q quits without a question
        await wait_for(pilot, lambda: app.host.in_hand() == (0, 0))
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)

    app = make_app(db)
    drive(app, scenario)
    assert app.return_code == 0
    assert store.get_execution(db, e.id).status == "cancelled"
