"""The dashboard at 80x24 and at 120x40: what fits, what is true, and its keys."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Static

from console.app import WorkflowConsole
from console.screens.execution_detail import ExecutionDetailScreen
from console.screens.executions import ExecutionsScreen
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from engine import store
from tests.console.support import drive, rows, settle, wait_for
from tests.support import add

LONG = "a-workflow-with-a-name-long-enough-to-push-every-other-column-off-the-screen"


def shown(app: WorkflowConsole, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def test_at_80x24_a_long_name_is_cut_and_every_column_that_matters_shows(
    seeded: store.Store, make_app
) -> None:
    add(seeded, f"name: {LONG}\nsteps:\n  - {{id: a, log: x}}\n")
    store.create_execution(seeded, store.get_workflow(seeded, LONG), {})

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        recent = app.screen.query_one("#recent", tables.Table)
        headings = [str(c.label) for c in recent.ordered_columns]
        assert headings[:5] == ["id", "workflow", "status", "started", "duration"]
        assert sum(c.get_render_width(recent) for c in recent.ordered_columns) <= 80
        top = rows(recent)[0]
        assert top[1].endswith("…") and top[2] == "… queued"
        assert all(len(cell) <= 28 for cell in top)
        assert rows(recent)[1][2] == "✓ succeeded"  # never `✓ succeede`
        # The numbers are one line; no panel box at 24 rows.
        assert not app.screen.query_one("#panels").display
        summary = shown(app, "#summary")
        assert "5 workflows" in summary and "1 failed" in summary
        # Nothing ran in the last minute: the chart is one line, no empty bars.
        assert "none in the last 60s" in shown(app, "#rate-label")
        assert not app.screen.query_one("#rate-chart").display
        # Every table shows rows, not just its heading.
        assert recent.size.height >= 5 and app.screen.query_one("#workflows").size.height >= 5

    drive(make_app(seeded, embedded=False), scenario, size=(80, 24))


def test_at_120x40_the_numbers_have_panels(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert app.screen.query_one("#panels").display
        assert not app.screen.query_one("#summary").display
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert not app.screen.query_one("#panels").display

    drive(make_app(seeded, embedded=False), scenario, size=(120, 40))


def test_the_steps_chart_counts_every_runner_with_a_scale(tmp_path) -> None:
    """Steps finished by another process (a foreground `wfe run`) show on the chart."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    db = store.open_store(url)
    add(db, "name: busy\nsteps:\n" + "".join(f"  - {{id: s{i}, log: x}}\n" for i in range(40)))
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--db", url, "run", "busy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    app = WorkflowConsole(db, embedded_executor=False)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: "peak" in shown(app, "#rate-label"))
        label = shown(app, "#rate-label")
        assert "all runners" in label and "peak 40" in label, label
        assert app.screen.query_one("#rate-chart").display

    try:
        drive(app, scenario, size=(80, 24))
    finally:
        db.close()


def test_j_k_g_G_move_on_the_dashboard_and_g_is_the_newest_now(
    seeded: store.Store, make_app
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        recent = app.screen.query_one("#recent", DataTable)
        await pilot.press("j", "j")
        assert recent.cursor_row == 2
        await pilot.press("k")
        assert recent.cursor_row == 1
        await pilot.press("G")
        assert recent.cursor_row == recent.row_count - 1
        # A new execution arrives at the top: the cursor stays on the same execution...
        await pilot.press("g")
        await settle(pilot)
        top = tables.selected_key(recent)
        await pilot.press("j")
        below = tables.selected_key(recent)
        newer = store.create_execution(seeded, store.get_workflow(seeded, "fan-out"), {})
        app.screen.refresh_data(force=True)
        await settle(pilot)
        assert rows(recent)[0][0] == str(newer.id)
        assert tables.selected_key(recent) == below
        # ... and `g` goes to the top as it is when pressed, the new one.
        assert top != str(newer.id)
        await pilot.press("g")
        await settle(pilot)
        assert tables.selected_key(recent) == str(newer.id)

    drive(make_app(seeded, embedded=False), scenario)


def test_import_is_offered_only_while_the_store_is_empty(
    db: store.Store, seeded: store.Store, make_app
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        bar = str(app.screen.query_one(KeyBar).render())
        assert "Import" not in bar and "Approve" in bar

    drive(make_app(seeded, embedded=False), scenario)


def test_approvals_show_the_whole_prompt_its_params_and_age(db: store.Store, make_app) -> None:
    prompt = "Ship release 4.2 to production? It rolls out to every region at once, so look"
    add(
        db,
        "name: deploy\nparams:\n  env: {type: string}\nsteps:\n"
        "  - {id: gate, approval: 'Ship it?'}\n",
    )
    wf = store.get_workflow(db, "deploy")
    for env in ("production", "staging"):
        e = store.create_execution(db, wf, {"env": env})
        store.request_approval(db, e.id or 0, "gate", "deploy", prompt)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        table = app.screen.query_one("#approvals", DataTable)
        cells = rows(table)
        assert [row[-1] for row in cells] == [prompt, prompt]
        assert {row[-2] for row in cells} == {"env=production", "env=staging"}
        assert all(row[3] in ("just now", "0s ago") for row in cells)  # asked as the test began
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert rows(table)[0][-1].endswith("…")  # cut in the table; whole below it
        below = app.screen.query_one("#approval-prompt", Static)
        assert str(below.render()).endswith(prompt) and below.size.height >= 2

    drive(make_app(db, embedded=False), scenario, size=(200, 40))


def test_keys_typed_in_one_burst_after_slash_go_to_the_filter(
    seeded: store.Store, make_app
) -> None:
    """A paste, or keys bunched over SSH: `/` and `sca` arrive before anything is drawn.
    `s` (status filter), `c` (cancel) and `a` must be typed into the box."""

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        for character in "/sca":
            key = "slash" if character == "/" else character
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert screen.query_one("#filter", Input).value == "sca"
        assert screen.status is None and app.screen is screen  # no status, no cancel prompt
        await pilot.press("enter")
        await settle(pilot)
        assert screen.workflow == "sca"

    drive(make_app(seeded, embedded=False), scenario)


def test_the_executions_filter_matches_part_of_a_name(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "slash", *"RETRY", "enter")
        await settle(pilot)
        names = {row[1] for row in rows(app.screen.query_one(DataTable))}
        assert names == {"flaky-retry"}

    drive(make_app(seeded, embedded=False), scenario)


def test_colon_e_opens_an_execution_and_colon_q_quits(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("colon", "e", "space", "3", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)
        assert app.screen.execution_id == 3
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("colon", "q", "enter")
        await settle(pilot)
        assert not app.is_running

    drive(make_app(seeded, embedded=False), scenario)


def test_a_prompt_with_markup_in_it_shows_as_it_is(db: store.Store, make_app) -> None:
    add(db, "name: deploy\nsteps:\n  - {id: gate, approval: 'Ship it?'}\n")
    e = store.create_execution(db, store.get_workflow(db, "deploy"), {})
    store.request_approval(db, e.id or 0, "gate", "deploy", "[b]x[/b] to [red]prod")

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert rows(app.screen.query_one("#approvals", DataTable))[0][-1] == "[b]x[/b] to [red]prod"
        app.screen.notify("[b]x[/b] was [red]removed")  # a Widget asks for markup
        await pilot.pause()
        (note,) = [n for n in app._notifications if "removed" in n.message]
        assert not note.markup

    drive(make_app(db, embedded=False), scenario)


def test_a_cell_is_never_markup() -> None:
    cell = tables._text("[b]bold[/b]")
    assert isinstance(cell, Text) and cell.plain == "[b]bold[/b]"


def test_keys_in_a_burst_after_slash_go_to_the_log_search(seeded: store.Store, make_app) -> None:
    """In an execution's log `f` would toggle follow and `w` wrap: after `/` they are typed."""

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionDetailScreen)
        log = screen.query_one(RichLog)
        following, wrapping = screen.follow, log.wrap
        for character in "/fw":
            app.post_message(events.Key("slash" if character == "/" else character, character))
        await settle(pilot)
        assert screen.query_one("#filter", Input).value == "fw"
        assert (screen.follow, log.wrap) == (following, wrapping)

    drive(make_app(seeded, embedded=False), scenario)


def test_g_on_the_executions_list_is_the_newest_as_of_the_key(
    seeded: store.Store, make_app
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "j", "j")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        kept = tables.selected_key(table)
        newer = store.create_execution(seeded, store.get_workflow(seeded, "fan-out"), {})
        app.screen.refresh_data(force=True)
        await settle(pilot)
        assert tables.selected_key(table) == kept  # rows came in above: same execution
        await pilot.press("g")
        await settle(pilot)
        assert tables.selected_key(table) == str(newer.id)

    drive(make_app(seeded, embedded=False), scenario)
