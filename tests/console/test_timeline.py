"""The timeline: each attempt a bar on one scale, its kind told by its character."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import WorkflowConsole
from console.messages import OpenTimeline
from console.screens.timeline import TimelineScreen
from console.widgets import timeline
from engine import store
from tests.console.support import NOW, drive, settle, wait_for
from tests.support import add, run


def _run(step: str, attempt: int, status: str, start: float, end: float | None) -> store.StepRun:
    return store.StepRun(
        execution_id=1,
        step_id=step,
        position=0,
        attempt=attempt,
        status=status,
        started_at=NOW + timedelta(seconds=start),
        finished_at=None if end is None else NOW + timedelta(seconds=end),
        duration_ms=None if end is None else (end - start) * 1000,
        exit_code=None,
        output=None,
        error=None,
        host=None,
        pid=None,
    )


def _execution(status: str, end: float | None) -> store.Execution:
    return store.Execution(
        id=1,
        workflow_id=1,
        workflow_name="w",
        version=1,
        params={},
        status=status,
        trigger="manual",
        runner=None,
        cancel_requested=False,
        queued_at=NOW,
        started_at=NOW,
        finished_at=None if end is None else NOW + timedelta(seconds=end),
        duration_ms=None,
        error=None,
    )


def test_each_kind_of_time_has_its_own_character_on_one_scale() -> None:
    runs = [
        _run("build", 1, "succeeded", 0, 2),
        _run("flaky", 1, "failed", 2, 4),
        _run("flaky", 2, "succeeded", 6, 8),
        _run("gate", 1, "waiting", 8, None),
    ]
    text = timeline.draw(_execution("running", None), runs, NOW + timedelta(seconds=10), 72, {})
    lines = text.plain.splitlines()
    assert lines[0].lstrip().startswith("0s") and lines[0].rstrip().endswith("10s")
    build, flaky, gate = lines[1], lines[2], lines[3]
    bar = 72 - len("build") - 12  # the bar's cells
    start = len("build") + 1
    assert build[start : start + bar // 5].strip("█") == ""  # the first fifth: ran
    assert set(build[start + bar // 5 + 1 : start + bar]) == {" "}
    assert flaky.count("▓") == bar // 5 and flaky.count("█") == bar // 5
    assert flaky.index("▓") < flaky.index("█")  # the failed attempt came first
    assert "░" in gate and gate.rstrip().endswith("2s")  # waiting still: to now
    assert lines[-1] == timeline.LEGEND
    assert all(len(line) <= 72 for line in lines[:-1])


def test_a_long_execution_says_how_many_steps_were_left_out() -> None:
    runs = [_run(f"s{i}", 1, "succeeded", i, i + 1) for i in range(timeline.MOST_ROWS + 5)]
    text = timeline.draw(_execution("succeeded", 2000), runs, NOW, 80, {}).plain
    assert "… and 5 more steps (the first 1,000 shown)" in text


def test_T_opens_the_timeline_and_it_moves_while_the_execution_runs(
    db: store.Store, make_app
) -> None:
    add(
        db,
        "name: w\nsteps:\n  - {id: quick, run: 'true'}\n  - {id: slow, run: 'sleep 3', needs: [quick]}\n",
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r", "enter")  # opens the new execution
        await wait_for(
            pilot,
            lambda: any(
                r.step_id == "slow" and r.status == "running"
                for e in store.list_executions(db)[0]
                for r in store.step_runs(db, e.id or 0)
            ),
        )
        await pilot.press("T")
        await settle(pilot)
        assert isinstance(app.screen, TimelineScreen)
        first = str(app.screen.query_one("#timeline", Static).render())
        await pilot.pause(1.5)
        await settle(pilot)
        later = str(app.screen.query_one("#timeline", Static).render())
        assert first != later and "slow" in later  # the running bar grew
        await pilot.press("T")
        await settle(pilot)
        assert not isinstance(app.screen, TimelineScreen)

    drive(make_app(db, clock=lambda: datetime.now(UTC)), scenario)


def test_the_timeline_of_a_finished_run_from_the_store(db: store.Store, make_app) -> None:
    add(
        db, "name: w\nsteps:\n  - {id: a, run: 'sleep 0.2'}\n  - {id: b, run: 'true', needs: [a]}\n"
    )
    handle = trio.run(run, db, "w")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        app.post_message(OpenTimeline(handle.id))
        await settle(pilot)
        text = str(app.screen.query_one("#timeline", Static).render())
        a, b = [line for line in text.splitlines() if line.startswith(("a ", "b "))]
        assert a.index("█") < b.index("█")  # b ran after a

    drive(make_app(db, embedded=False), scenario)
