"""Pilot tests of the execution detail: its log lines, its steps' attempts, its header,
and the actions taken from it (approve, reject, cancel, re-run), on a real SQLite store
and, where something runs, the console's own executor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Static

from console import format
from console.app import WorkflowConsole
from console.modals.confirm import ConfirmModal
from console.modals.params import ParamsModal
from console.modals.reason import ReasonModal
from console.screens.execution_detail import ExecutionDetailScreen
from engine import status, store
from tests.console.support import NOW, drive, notes, rows, settle, wait_for
from tests.support import add


def detail(app: WorkflowConsole) -> ExecutionDetailScreen:
    screen = app.screen
    assert isinstance(screen, ExecutionDetailScreen)
    return screen


def heading(app: WorkflowConsole) -> str:
    return str(detail(app).query_one("#heading", Static).render())


def log_text(app: WorkflowConsole) -> list[str]:
    return [strip.text.rstrip() for strip in detail(app).query_one(RichLog).lines]


def step_rows(app: WorkflowConsole) -> dict[str, list[str]]:
    return {row[0]: row for row in rows(detail(app).query_one(DataTable))}


async def open_newest(pilot: Pilot[Any]) -> None:
    await pilot.press("3", "enter")
    await settle(pilot)


async def run_from_workflows(app: WorkflowConsole, pilot: Pilot[Any]) -> int:
    """`r` on the only workflow, Enter on its params: the new execution opens; its id."""
    assert app.host is not None
    await app.host.wait_ready()
    await pilot.press("2", "r")
    await settle(pilot)
    assert isinstance(app.screen, ParamsModal)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
    return detail(app).execution_id


# -- the log ---------------------------------------------------------------------------


def test_stderr_is_marked_and_output_is_normal_text_with_no_colour(
    seeded: store.Store, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await open_newest(pilot)
        lines = detail(app).query_one(RichLog).lines
        text = [strip.text for strip in lines]
        assert text[0].split() == ["flaky", "!", "attempt", "1:", "upstream", "not", "ready", "yet"]
        assert [t.split(maxsplit=1)[0] for t in text] == ["flaky"] * 7 + ["report"]
        stderr = [t for t in text if " ! " in t]
        assert len(stderr) == 2 and all("upstream not ready yet" in t for t in stderr)
        # stdout reads as normal text: the step's name is dim, the output is not.
        (stdout,) = [strip for strip in lines if strip.text.endswith("attempt 3: ok")][:1]
        output = [seg for seg in stdout if "attempt 3: ok" in seg.text]
        assert output and not any(seg.style and seg.style.dim for seg in output)
        assert "! marks stderr" in str(detail(app).query_one("#log-state", Static).render())

    app = make_app(seeded, embedded=False)
    assert app.colourless
    drive(app, scenario)


def test_t_toggles_each_lines_time(seeded: store.Store, make_app) -> None:
    when = (NOW - timedelta(minutes=5)).astimezone().strftime("%H:%M:%S.%f")[:-3]

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await open_newest(pilot)
        assert not any(t.startswith(when) for t in log_text(app))
        await pilot.press("t")
        await settle(pilot)
        text = log_text(app)
        assert len(text) == 8 and all(t.startswith(f"{when} ") for t in text)
        assert text[-1].split()[1:] == ["report", "attempt", "3:", "ok"]
        await pilot.press("t")
        await settle(pilot)
        assert log_text(app)[-1].split() == ["report", "attempt", "3:", "ok"]

    drive(make_app(seeded, embedded=False), scenario)


def test_a_running_step_with_no_output_says_so_until_it_prints(db: store.Store, make_app) -> None:
    add(db, "name: quiet\nsteps:\n  - {id: think, run: 'sleep 1.5; echo thought'}\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        execution_id = await run_from_workflows(app, pilot)
        await wait_for(pilot, lambda: step_rows(app).get("think", ["", ""])[1] == "▶ running")
        await wait_for(pilot, lambda: log_text(app) == ["step think is running; no output yet"])
        assert not store.log_lines(db, execution_id)  # drawn, never stored
        await wait_for(pilot, lambda: any("thought" in t for t in log_text(app)))
        assert [t.split() for t in log_text(app)] == [["think", "thought"]]

    drive(make_app(db), scenario)


# -- the steps ---------------------------------------------------------------------------


def test_attempts_are_worded_for_skipped_retried_and_taken_over_steps(
    db: store.Store, make_app
) -> None:
    add(
        db,
        """
        name: chain
        steps:
          - id: first
            run: exit 3
            retry: {attempts: 2, delay: 10ms}
          - id: second
            needs: [first]
            run: echo never
        """,
    )
    add(db, "name: handed\nsteps:\n  - {id: only, run: 'true'}\n")
    handed = store.create_execution(db, store.get_workflow(db, "handed"), {})
    # What a take-over leaves: the dead runner's attempt 1 closed, attempt 2 run here.
    store.write_batch(
        db,
        store.Batch(
            step_inserts=[
                {
                    "execution_id": handed.id,
                    "step_id": "only",
                    "position": 0,
                    "attempt": attempt,
                    "status": outcome,
                    "started_at": NOW,
                    "finished_at": NOW,
                    "duration_ms": 5.0,
                    "exit_code": None,
                    "output": None,
                    "error": error,
                    "host": None,
                    "pid": None,
                }
                for attempt, outcome, error in (
                    (1, "failed", "its runner stopped responding; taken over"),
                    (2, "succeeded", None),
                )
            ],
            step_updates=[],
            logs=[],
            executions={handed.id: {"status": "succeeded", "started_at": NOW, "finished_at": NOW}},
            finished=[(handed.id, handed.workflow_id, "succeeded")],
        ),
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await open_newest(pilot)
        assert detail(app).execution_id == handed.id
        await wait_for(pilot, lambda: step_rows(app).get("only", ["", "", ""])[2] != "")
        assert step_rows(app)["only"][2] == "2 (taken over)"
        await pilot.press("escape")
        await settle(pilot)
        chain = await run_from_workflows(app, pilot)  # the first workflow by name
        assert chain != handed.id
        await wait_for(pilot, lambda: "failed" in heading(app))
        await settle(pilot)
        found = step_rows(app)
        assert found["first"][1:3] == ["✗ failed", "2 of 2"]
        assert found["second"][1:3] == ["↷ skipped", ""]

    drive(make_app(db), scenario)


def detail_ids(app: WorkflowConsole) -> list[int]:
    return [s.execution_id for s in app.screen_stack if isinstance(s, ExecutionDetailScreen)]


def test_header_tally_is_final_after_a_cancel(db: store.Store, make_app) -> None:
    add(
        db,
        """
        name: three
        steps:
          - {id: one, run: 'true'}
          - {id: two, run: 'true'}
          - {id: slow, needs: [one, two], run: sleep 60}
        """,
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        execution_id = await run_from_workflows(app, pilot)
        await wait_for(pilot, lambda: "1 running, 2 succeeded" in heading(app))
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_for(pilot, lambda: store.get_execution(db, execution_id).status == "cancelled")
        # Finished: no later read comes, so the tally must be the final one now.
        await wait_for(pilot, lambda: "1 cancelled, 2 succeeded" in heading(app), timeout=3)
        assert "running" not in heading(app)

    drive(make_app(db), scenario)


# -- actions ---------------------------------------------------------------------------


GATE = """
name: deploy
params: {env: staging}
steps:
  - {id: build, run: echo built}
  - {id: gate, needs: [build], approval: 'Ship ${{ params.env }} to every region, then page the on-call?'}
"""


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "reject"])
def test_a_and_x_decide_the_waiting_step_from_the_detail(
    db: store.Store, make_app, approve: bool
) -> None:
    add(db, GATE)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert app.host is not None
        await app.host.wait_ready()
        await pilot.press("2", "r")
        await settle(pilot)
        app.screen.query_one("#param-env", Input).value = "production"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        execution_id = detail(app).execution_id
        await wait_for(pilot, lambda: step_rows(app).get("gate", ["", ""])[1] == "? waiting")
        await pilot.press("A" if approve else "X")  # the cursor is on `build`: the one waiting
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal if approve else ReasonModal)
        question = modal.question
        assert "Ship production to every region, then page the on-call?" in question
        requested = store.get_approval(db, execution_id, "gate").requested_at
        assert "env=production" in question
        assert f"asked[/dim]   {format.ago(requested, NOW)}" in question  # the app's clock
        if approve:
            await pilot.press("y")
        else:
            await pilot.press("enter")  # no reason: refused, it asks again
            await settle(pilot)
            assert isinstance(app.screen, ReasonModal)
            await pilot.press(*"wrong region", "enter")
        await wait_for(
            pilot, lambda: store.get_execution(db, execution_id).status in status.FINISHED
        )
        decided = store.get_approval(db, execution_id, "gate")
        assert decided.status == ("approved" if approve else "rejected")
        assert decided.decided_by == "console"
        assert decided.reason == (None if approve else "wrong region")
        assert (
            f"{'Approved' if approve else 'Rejected'} execution {execution_id} step gate"
            in notes(app)
        )
        await wait_for(pilot, lambda: step_rows(app)["gate"][1] != "? waiting")
        await pilot.press("A")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmModal)
        assert f"No step of execution {execution_id} waits for approval" in notes(app)

    drive(make_app(db), scenario)


def test_escape_takes_back_a_rejection(db: store.Store, make_app) -> None:
    add(db, GATE)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        execution_id = await run_from_workflows(app, pilot)
        await wait_for(pilot, lambda: step_rows(app).get("gate", ["", ""])[1] == "? waiting")
        await pilot.press("X")
        await settle(pilot)
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"hmm", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)
        assert store.get_approval(db, execution_id, "gate").status == "pending"

    drive(make_app(db), scenario)


def test_c_on_a_finished_execution_says_so_and_asks_nothing(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await open_newest(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)
        assert "Execution 5 has finished (succeeded); there is nothing to cancel" in notes(app)

    drive(make_app(seeded, embedded=False), scenario)


def test_rerun_says_which_version_runs_and_opens_the_new_execution(
    db: store.Store, make_app
) -> None:
    add(db, "name: again\nsteps:\n  - {id: say, run: echo one}\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        first = await run_from_workflows(app, pilot)
        await wait_for(pilot, lambda: "succeeded" in heading(app))
        add(db, "name: again\nsteps:\n  - {id: say, run: echo two}\n")
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert f"Re-run execution {first} (version 1) as version 2?" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ParamsModal)
        await pilot.press("enter")
        await wait_for(pilot, lambda: detail_ids(app) == [first, first + 1])
        assert "again v2" in heading(app)
        assert f"Started execution {first + 1} of again v2" in notes(app)
        await wait_for(pilot, lambda: any("two" in t for t in log_text(app)))

    drive(make_app(db), scenario)


def test_C_shows_lines_of_context_around_each_match(db: store.Store, make_app) -> None:
    import trio

    from console.messages import OpenExecution
    from tests.support import run

    lines = ["l1", "l2", "ERROR one", "l4", "l5", "l6", "l7", "l8", "ERROR two", "l10"]
    add(
        db,
        "name: w\nsteps:\n" + "".join(f"  - {{id: s{i}, log: {t}}}\n" for i, t in enumerate(lines)),
    )
    handle = trio.run(run, db, "w")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        app.post_message(OpenExecution(handle.id))
        await settle(pilot)
        await wait_for(pilot, lambda: any("ERROR two" in line for line in log_text(app)))
        await pilot.press("slash", *"error", "enter")
        await settle(pilot)
        await pilot.press("C")  # only matches, with 2 lines around each
        await settle(pilot)
        words = [line.split()[-1] if line.split() else "" for line in log_text(app)]
        assert words == ["l1", "l2", "one", "l4", "l5", "--", "l7", "l8", "two", "l10"]
        state = str(detail(app).query_one("#log-state", Static).render())
        assert "matches only ±2 lines (C)" in state
        assert detail(app).matches() == [2, 8]  # where the matches are among the lines shown
        await pilot.press("n")  # Enter found the first; n the next
        assert "2 of 2" in str(detail(app).query_one("#log-state", Static).render())
        await pilot.press("C", "C", "C")  # 5, 10, then none: the matches alone
        await settle(pilot)
        assert [line.split()[-1] for line in log_text(app)] == ["one", "two"]

    drive(make_app(db, embedded=False), scenario)


def test_a_foreach_step_is_one_row_counting_its_items_and_its_log_has_theirs(
    db: store.Store, make_app
) -> None:
    add(
        db,
        """
        name: fan
        steps:
          - id: deploy
            foreach: [web-1, web-2, web-3, db-1]
            max_parallel: 2
            run: 'echo "at ${{ item }}"; [ ${{ item }} = db-1 ] || sleep 1.5'
          - {id: report, log: "${{ join(steps.deploy.output, ',') }}"}
        """,
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await run_from_workflows(app, pilot)
        # Under way: one row for the step, its items counted, none of them a row of its own.
        await wait_for(pilot, lambda: "▶2" in step_rows(app).get("deploy", [""] * 7)[6])
        assert list(step_rows(app)) == ["deploy", "report"]
        assert step_rows(app)["deploy"][6] == "2 of 4 items: ▶2"  # two at a time
        await wait_for(pilot, lambda: step_rows(app)["report"][1] == "✓ succeeded", timeout=20)
        assert step_rows(app)["deploy"][6] == "4 items: ✓4"
        table = detail(app).query_one(DataTable)
        table.move_cursor(row=0)
        await pilot.press("enter")  # the step's log alone: its items' lines
        await settle(pilot)
        shown = [t.split(maxsplit=1) for t in log_text(app)]
        assert sorted(shown) == [
            ["deploy[db-1]", "at db-1"],
            ["deploy[web-1]", "at web-1"],
            ["deploy[web-2]", "at web-2"],
            ["deploy[web-3]", "at web-3"],
        ]

    drive(make_app(db), scenario)


def test_M_marks_the_step_under_the_cursor_and_O_runs_one_step_again(
    db: store.Store, make_app, tmp_path
) -> None:
    from console.modals.confirm import ConfirmModal
    from console.modals.mark import MarkModal

    effects = tmp_path / "effects"
    add(
        db,
        f"""
        name: stuck
        steps:
          - {{id: first, run: "echo first >> {effects}"}}
          - {{id: hang, run: "echo hang >> {effects}; sleep 60"}}
          - {{id: after, run: "echo after >> {effects}"}}
        """,
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        execution_id = await run_from_workflows(app, pilot)
        await wait_for(pilot, lambda: step_rows(app).get("hang", ["", ""])[1] == "▶ running")
        table = detail(app).query_one(DataTable)
        table.move_cursor(row=1)
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, MarkModal))
        await pilot.press("enter")  # no reason: refused, it stays
        assert isinstance(app.screen, MarkModal)
        await pilot.press(*"known good", "enter")
        await wait_for(pilot, lambda: step_rows(app).get("after", ["", ""])[1] == "✓ succeeded")
        hang = step_rows(app)["hang"]
        assert hang[1] == "✓ succeeded" and hang[6] == "marked succeeded by console: known good"
        assert effects.read_text().split() == ["first", "hang", "after"]
        # O: the marked step again, and what needs it; `first` keeps its result.
        table.move_cursor(row=1)
        await pilot.press("O")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "hang, after run" in str(app.screen.query_one(Static).render())
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ExecutionDetailScreen)
                and detail(app).execution_id != execution_id
            ),
        )
        await wait_for(pilot, lambda: step_rows(app).get("hang", ["", ""])[1] == "▶ running")
        assert step_rows(app)["first"][6] == f"reused from execution {execution_id}"
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("enter")  # yes, cancel it
        await settle(pilot)

    drive(make_app(db), scenario)


def test_a_workflow_step_shows_its_child_and_enter_opens_it(db: store.Store, make_app) -> None:
    add(db, "name: child\nsteps:\n  - {id: work, run: 'sleep 1.5; echo done'}\n")
    add(db, "name: parent\nsteps:\n  - {id: call, workflow: child}\n  - {id: after, log: x}\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "j", "r")  # the second workflow: parent
        await settle(pilot)
        assert isinstance(app.screen, ParamsModal)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        parent = detail(app)
        await wait_for(pilot, lambda: "→ execution" in step_rows(app).get("call", [""] * 7)[6])
        (child,) = store.children(db, parent.execution_id)
        assert step_rows(app)["call"][6] == f"→ execution {child.id} running (Enter opens it)"
        parent.query_one(DataTable).move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ExecutionDetailScreen)
                and detail(app).execution_id == child.id
            ),
        )
        assert f"(child of {parent.execution_id}, call)" in heading(app)
        await wait_for(pilot, lambda: step_rows(app).get("work", ["", ""])[1] == "✓ succeeded")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is parent)
        await wait_for(pilot, lambda: step_rows(app).get("after", ["", ""])[1] == "✓ succeeded")

    drive(make_app(db), scenario)
