"""Pilot tests: every binding and action of the console, on a real SQLite store."""

from __future__ import annotations

import asyncio
import time
import tomllib
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Static

from console.app import WorkflowConsole
from console.modals.command import CommandModal
from console.modals.confirm import ConfirmModal
from console.modals.help import HelpScreen
from console.modals.params import ParamsModal
from console.screens.dashboard import DashboardScreen
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.executions import ExecutionsScreen
from console.screens.health import HealthScreen
from console.screens.workflow_detail import WorkflowDetailScreen
from console.screens.workflows import WorkflowsScreen
from console.store_error import StoreErrorScreen
from engine import store
from tests.console.support import drive, notes, rows, settle, wait_for

# -- first run and navigation ------------------------------------------------------------


def test_empty_store_offers_the_examples_and_i_imports_them(db: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert isinstance(app.screen, DashboardScreen)
        empty = app.screen.query_one("#empty", Static)
        assert "Press i to import the bundled examples" in str(empty.render())
        await pilot.press("i")
        await settle(pilot)
        assert store.list_workflows(db)[1] == 8
        assert not app.screen.query_one("#empty", Static).display
        assert "Imported 8 example workflow(s)" in notes(app)

    drive(make_app(db, embedded=False), scenario)


def test_number_keys_switch_views_and_q_quits(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        for key, screen in [
            ("2", WorkflowsScreen),
            ("3", ExecutionsScreen),
            ("4", HealthScreen),
            ("1", DashboardScreen),
        ]:
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen), key
        await pilot.press("q")
        await settle(pilot)
        assert app.return_code == 0
        assert not app.host.running

    drive(make_app(seeded), scenario)


def test_colon_jumps_to_a_filtered_view(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("colon")
        assert isinstance(app.screen, CommandModal)
        await pilot.press(*"executions failed", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionsScreen)
        assert [r[0] for r in rows(app.screen.query_one(DataTable))] == ["3"]
        await pilot.press("colon", *"nonsense", "enter")
        await settle(pilot)
        assert "no view 'nonsense'" in str(app.screen.query_one("#error", Static).render())
        await pilot.press("escape", "colon", *"work fan", "enter")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)
        assert [r[0] for r in rows(app.screen.query_one(DataTable))] == ["fan-out"]

    drive(make_app(seeded, embedded=False), scenario)


def test_question_mark_lists_every_binding_of_the_screen(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2", "question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {
            "workflows.run",
            "workflows.toggle",
            "workflows.remove",
            "workflows.filter",
            "app.quit",
            "app.help",
        } <= ids
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)

    drive(make_app(seeded, embedded=False), scenario)


def test_keys_can_be_remapped_by_id(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2", "x")
        await settle(pilot)
        assert isinstance(app.screen, ParamsModal)

    drive(make_app(seeded, embedded=False, keys={"workflows.run": "x"}), scenario)


def test_theme_choice_is_remembered(seeded: store.Store, make_app, tmp_path: Path) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert {"wfe-dark", "wfe-light", "wfe-ansi"} <= set(app.available_themes)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"theme: wfe-ansi")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "wfe-ansi")

    drive(make_app(seeded, embedded=False), scenario)
    saved = tomllib.loads((tmp_path / "config.toml").read_text())
    assert saved["theme"] == "wfe-ansi"


def test_a_theme_change_reaches_views_seen_before_and_after(seeded: store.Store, make_app) -> None:
    """Views come back without restyling (for speed): a new theme must still reach them."""

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")  # the workflows view exists, under the dark theme
        await settle(pilot)
        dark = app.screen.styles.background
        await pilot.press("1")
        await settle(pilot)
        app.theme = "wfe-light"
        await settle(pilot)
        light = app.screen.styles.background
        assert light != dark
        for key in "234":  # seen before, then two never seen
            await pilot.press(key)
            await settle(pilot)
            assert app.screen.styles.background == light, key

    drive(make_app(seeded, embedded=False), scenario)


# -- workflows --------------------------------------------------------------------------


def test_workflows_filter_cursor_and_detail(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert [r[0] for r in rows(table)] == [
            "fan-out",
            "flaky-retry",
            "release-artifact",
            "service-check",
        ]
        await pilot.press("G")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("slash", *"serv", "enter")
        await settle(pilot)
        assert [r[0] for r in rows(table)] == ["service-check"]
        await pilot.press("escape")
        await settle(pilot)
        assert table.row_count == 4
        assert table.cursor_row == 3  # the cursor stays on the row it was on
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowDetailScreen)
        assert app.screen.workflow_name == "service-check"
        assert "wait-ready" in app.screen.definition_text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)

    drive(make_app(seeded, embedded=False), scenario)


def test_toggle_active_and_remove_with_confirmation(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2", "a")
        await settle(pilot)
        assert store.get_workflow(seeded, "fan-out").active is False
        await pilot.press("a")
        await settle(pilot)
        assert store.get_workflow(seeded, "fan-out").active is True
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert store.list_workflows(seeded)[1] == 4
        await pilot.press("ctrl+d", "y")
        await settle(pilot)
        assert [w.workflow.name for w in store.list_workflows(seeded)[0]] == [
            "flaky-retry",
            "release-artifact",
            "service-check",
        ]
        assert next(r[0] for r in rows(app.screen.query_one(DataTable))) == "flaky-retry"

    drive(make_app(seeded, embedded=False), scenario)


def test_workflow_removed_while_on_screen_disappears_quietly(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count > 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkflowDetailScreen))
        store.remove_workflow(seeded, "fan-out")  # from "another terminal"
        await wait_for(pilot, lambda: isinstance(app.screen, WorkflowsScreen))
        await wait_for(
            pilot, lambda: "fan-out" not in [r[0] for r in rows(app.screen.query_one(DataTable))]
        )
        assert "Workflow fan-out was removed" in notes(app)

    drive(make_app(seeded, embedded=False), scenario)


def test_run_modal_refuses_a_bad_param_then_runs_and_the_log_is_complete(
    db: store.Store, make_app, tmp_path: Path
) -> None:
    from tests.support import add

    add(
        db,
        f"""
        name: count
        params: {{times: 3, dir: {tmp_path}}}
        steps:
          - id: loop
            run: for i in $(seq 1 ${{{{ params.times }}}}); do echo "line $i"; done
          - id: done
            log: "counted ${{{{ params.times }}}}"
        """,
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r")
        await settle(pilot)
        assert isinstance(app.screen, ParamsModal)
        times = app.screen.query_one("#param-times", Input)
        times.value = "lots"
        await pilot.press("enter")
        await settle(pilot)
        error = str(app.screen.query_one("#error", Static).render())
        assert "parameter 'times' expects a whole number (its default is 3), not 'lots'" in error
        times.value = "5"
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.list_executions(db)[1] == 1)
        execution = store.list_executions(db)[0][0]
        await wait_for(
            pilot, lambda: store.get_execution(db, execution.id or 0).status == "succeeded"
        )
        assert store.get_execution(db, execution.id or 0).params == {
            "times": 5,
            "dir": str(tmp_path),
        }
        await pilot.press("3", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)
        log = app.screen.query_one(RichLog)
        await wait_for(pilot, lambda: len(log.lines) == 6)
        text = [strip.text for strip in log.lines]
        assert [t.split(maxsplit=1)[1] for t in text] == [
            "line 1",
            "line 2",
            "line 3",
            "line 4",
            "line 5",
            "counted 5",
        ]

    drive(make_app(db), scenario)


# -- executions ---------------------------------------------------------------------------


def test_executions_status_and_workflow_filters(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert [r[0] for r in rows(table)] == ["5", "4", "3", "2", "1"]
        await pilot.press("s")  # queued
        await settle(pilot)
        assert table.row_count == 0
        await pilot.press("s", "s")  # running, then succeeded
        await settle(pilot)
        assert [r[0] for r in rows(table)] == ["5", "2", "1"]
        await pilot.press("slash", *"flaky-retry", "enter")
        await settle(pilot)
        assert [r[0] for r in rows(table)] == ["5"]
        await pilot.press("escape")
        await settle(pilot)
        assert table.row_count == 5

    drive(make_app(seeded, embedded=False), scenario)


def test_cancel_of_a_finished_execution_says_so(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "c")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmModal)  # nothing to ask about
        assert "Execution 5 has finished (succeeded); there is nothing to cancel" in notes(app)

    drive(make_app(seeded, embedded=False), scenario)


def test_cancel_a_running_execution_from_the_console(db: store.Store, make_app) -> None:
    from tests.support import add

    add(db, "name: slow\nsteps:\n  - {id: s, run: sleep 60}\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r", "enter")
        await wait_for(pilot, lambda: store.list_executions(db, status="running")[1] == 1)
        await pilot.press("3", "c", "y")
        await wait_for(pilot, lambda: store.list_executions(db, status="cancelled")[1] == 1)
        assert store.list_executions(db)[0][0].error == "cancelled from the console"

    drive(make_app(db), scenario)


def test_rerun_offers_the_same_params(seeded: store.Store, make_app) -> None:
    from engine import definition

    flaky = store.get_workflow(seeded, "flaky-retry")
    again = store.create_execution(seeded, flaky, {"succeed_on": 2})  # the newest: the top row

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await settle(pilot)
        assert rows(app.screen.query_one(DataTable))[0][0] == str(again.id)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ParamsModal)
        assert app.screen.query_one("#param-succeed_on", Input).value == "2"
        assert isinstance(app.screen.workflow, definition.Workflow)
        await pilot.press("escape")

    drive(make_app(seeded, embedded=False), scenario)


def test_quitting_and_choosing_cancel_cancels_what_the_console_runs(
    db: store.Store, make_app
) -> None:
    from tests.support import add

    add(db, "name: slow\nsteps:\n  - {id: s, run: sleep 60}\n")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r", "enter")
        await wait_for(pilot, lambda: store.list_executions(db, status="running")[1] == 1)
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running  # it asks first
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.is_running)

    drive(make_app(db), scenario)
    (e,) = store.list_executions(db)[0]
    assert e.status == "cancelled"


# -- execution detail ----------------------------------------------------------------------


def test_execution_detail_log_bindings(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionDetailScreen)
        log = screen.query_one(RichLog)
        assert len(log.lines) == 8
        assert [r[0] for r in rows(screen.query_one(DataTable))] == ["flaky", "report", "tidy"]
        await pilot.press("j", "enter")  # narrow the log to `report`
        await settle(pilot)
        assert len(log.lines) == 1 and "report" in log.lines[0].text
        await pilot.press("escape")  # clears the narrowing, stays
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen) and len(log.lines) == 8
        await pilot.press("f")
        assert screen.follow is False and log.auto_scroll is False
        await pilot.press("f")
        assert screen.follow is True
        await pilot.press("w")
        await settle(pilot)
        assert log.wrap is True
        await pilot.press("w")
        await settle(pilot)
        assert log.wrap is False
        await pilot.press("slash", *"upstream", "enter")
        await settle(pilot)
        assert screen.pattern == "upstream" and screen.match_index == 0
        await pilot.press("n")
        assert screen.match_index == 1
        await pilot.press("N")
        assert screen.match_index == 0
        await pilot.press("m")
        await settle(pilot)
        assert len(log.lines) == 4 and all("upstream" in s.text for s in log.lines)
        await pilot.press("escape")
        await settle(pilot)
        assert len(log.lines) == 8 and screen.pattern is None
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionsScreen)

    drive(make_app(seeded, embedded=False), scenario)


def test_a_big_execution_opens_a_page_of_steps_and_the_tail_of_its_log(
    db: store.Store, make_app
) -> None:
    import trio

    from console.screens import execution_detail
    from engine import runtime
    from tests.support import add

    steps = "".join(
        f"  - {{id: s{i:03}, run: 'for n in 1 2 3 4 5 6; do echo {i}-$n; done'}}\n"
        for i in range(250)
    )
    add(db, f"name: big\nsteps:\n{steps}")

    async def run_it() -> None:
        async with runtime.open_executor(db) as ex:
            await (await ex.start("big")).wait()

    trio.run(run_it)  # 250 steps, 1,500 log lines
    (execution,), _ = store.list_executions(db)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        screen = ExecutionDetailScreen(app.services, execution.id or 0)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.step_order is not None and screen.after_seq > 0)
        await settle(pilot)
        table = screen.query_one("#steps", DataTable)
        heading = str(screen.query_one("#heading", Static).render())
        assert "steps 1-100 of 250" in heading and "250 succeeded" in heading
        assert table.row_count == 100 and rows(table)[0][0] == "s000"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert rows(table)[0][0] == "s100" and rows(table)[-1][0] == "s199"
        assert "steps 101-200 of 250" in str(screen.query_one("#heading", Static).render())
        await pilot.press("right_square_bracket", "right_square_bracket")  # the last page stays
        await settle(pilot)
        assert table.row_count == 50 and rows(table)[0][0] == "s200"
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert rows(table)[0][0] == "s100"
        # The log opens on its last lines and says where the rest is.
        log = screen.query_one(RichLog)
        shown = [strip.text for strip in log.lines]
        assert len(shown) == execution_detail.LOG_OPEN + 1
        assert "[500 lines not shown here: g on the log loads earlier ones;" in shown[0]
        assert shown[-1].endswith("249-6")
        # g at the top of the log loads the earlier lines; f goes back to the newest.
        log.focus()
        await pilot.press("g", "g")
        await settle(pilot)
        shown = [strip.text for strip in log.lines]
        assert len(shown) == 1500 and shown[0].endswith("0-1") and shown[-1].endswith("249-6")
        assert screen.follow is False
        await pilot.press("f")
        await settle(pilot)
        shown = [strip.text for strip in log.lines]
        assert len(shown) == execution_detail.LOG_OPEN + 1 and shown[-1].endswith("249-6")
        screen.query_one(DataTable).focus()
        await pilot.press("backspace")
        await settle(pilot)
        assert not isinstance(app.screen, ExecutionDetailScreen)

    drive(make_app(db, embedded=False), scenario)


def test_health_screen_shows_store_executor_and_memory(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("4")
        await pilot.pause(1.2)
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert f"schema {store.SCHEMA_VERSION}" in text and "1.2 MB" in text
        assert "limits: 50 executions, 16 steps per execution" in text
        assert "memory 42.0 MB" in text

    drive(make_app(seeded), scenario)


# -- a store that cannot be opened -----------------------------------------------------------


def test_store_that_cannot_be_opened_shows_an_error_and_exits_1(tmp_path: Path, make_app) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("not a database " * 200)
    app = WorkflowConsole(url=f"sqlite:///{bad}", config=make_app.config)

    async def main() -> int | None:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    isinstance(app.screen, StoreErrorScreen)
                    and bool(app.screen.query("#store-error"))
                ),
            )
            shown = str(app.screen.query_one("#store-error", Static).render())
            assert f"cannot open the database {bad}: file is not a database" in shown
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(main()) == 1
    assert app.error == f"cannot open the database {bad}: file is not a database"


def test_lists_page_with_brackets(db: store.Store, make_app) -> None:
    from engine import definition

    store.save_workflows(
        db,
        [
            (definition.parse(f"name: w{i:02d}\nsteps: [{{id: a, log: x}}]\n"), None)
            for i in range(60)
        ],
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        pager = app.screen.query_one("#pager", Static)
        assert table.row_count == 50 and str(pager.render()).startswith("1-50 of 60")
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert [r[0] for r in rows(table)] == [f"w{i}" for i in range(50, 60)]
        assert str(pager.render()).startswith("51-60 of 60")
        await pilot.press("right_square_bracket")  # no page past the last
        await settle(pilot)
        assert str(pager.render()).startswith("51-60 of 60")
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert table.row_count == 50 and rows(table)[0][0] == "w00"

    drive(make_app(db, embedded=False), scenario)


def test_new_executions_go_to_live_workers(db: store.Store, make_app) -> None:
    from tests.support import add

    add(db, "name: job\nsteps:\n  - {id: s, log: x}\n")
    store.heartbeat(
        db, store.Runner.new("other-host:1:abc", host="other-host", pid=1, concurrency=4)
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await app.host.wait_ready()
        await pilot.press("2", "r", "enter")
        await wait_for(pilot, lambda: store.list_executions(db)[1] == 1)
        (e,) = store.list_executions(db)[0]
        assert (e.status, e.runner, e.trigger) == ("queued", None, "console")
        assert f"Queued execution {e.id} of job for the workers" in notes(app)
        await pilot.press("4")
        await pilot.pause(1.2)
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "other-host:1:abc" in text and "1 alive" in text

    drive(make_app(db), scenario)


def test_workflows_show_the_next_scheduled_run(db: store.Store, make_app) -> None:
    from tests.support import add

    add(
        db,
        "name: nightly\nschedule: {cron: '0 2 * * *', timezone: Europe/Paris}\nsteps:\n  - {id: s, log: x}\n",
    )

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await settle(pilot)
        (row,) = rows(app.screen.query_one(DataTable))
        assert row[-1] == "0 2 * * *  next Sat 02:00 CET"  # the clock says Fri 27 Nov, 12:00 UTC

    drive(make_app(db, embedded=False), scenario)


def test_console_reads_while_two_workers_write_at_full_speed(db: store.Store, make_app) -> None:
    import signal
    import subprocess
    import sys

    from tests.support import REPO, add

    add(db, "name: burst\nsteps:\n  - {id: a, log: one}\n  - {id: b, log: two}\n")
    store.create_executions(db, store.get_workflow(db, "burst"), [{}] * 1500)
    url = str(db.url)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "--db", url, "worker", "--concurrency", "16"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        deadline = time.monotonic() + 120
        while store.stats(db).succeeded < 1500:
            assert time.monotonic() < deadline
            for key in ("1", "3", "2", "4"):
                await pilot.press(key)
                refresh = getattr(app.screen, "refresh_data", None)
                if refresh is not None:
                    refresh()  # read now, not only on the view's own timer
                await pilot.pause(0.05)
        problems = [n for n in notes(app) if "locked" in n or "error" in n.lower()]
        assert problems == []

    try:
        drive(make_app(db, embedded=False), scenario)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        errors = [w.communicate(timeout=60)[1] for w in workers]
    assert all("locked" not in e and "Traceback" not in e for e in errors), errors


def test_dashboard_lists_and_decides_approvals(db: store.Store, make_app) -> None:
    from tests.support import add

    add(db, "name: deploy\nsteps:\n  - {id: gate, approval: 'Ship it?'}\n")
    e = store.create_execution(db, store.get_workflow(db, "deploy"), {})
    store.request_approval(db, e.id or 0, "gate", "deploy", "Ship it?")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        table = app.screen.query_one("#approvals", DataTable)
        row = rows(table)[0]
        assert table.display and (row[0], row[2], row[-1]) == (str(e.id), "gate", "Ship it?")
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert store.get_approval(db, e.id or 0, "gate").status == "approved"
        assert store.get_approval(db, e.id or 0, "gate").decided_by == "console"
        assert not app.screen.query_one("#approvals", DataTable).display

    drive(make_app(db, embedded=False), scenario)
