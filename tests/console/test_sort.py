"""Lists sort by a column, over the whole list; the order is remembered per view."""

from __future__ import annotations

import tomllib
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import WorkflowConsole
from engine import store
from tests.console.support import drive, rows, settle


def test_o_cycles_the_column_O_reverses_and_the_order_is_kept(
    seeded: store.Store, make_app
) -> None:
    app = make_app(seeded, embedded=False)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert [r[0] for r in rows(table)] == ["5", "4", "3", "2", "1"]  # newest first
        await pilot.press("o", "o")  # id → started → duration
        await settle(pilot)
        durations = [r[0] for r in rows(table)]
        assert durations == ["1", "3", "2", "5", "4"]  # 2.4s, 1.5s, 870ms, 640ms, 300ms
        assert "by duration ↓" in str(app.screen.query_one("#pager").render())
        await pilot.press("O")
        await settle(pilot)
        assert [r[0] for r in rows(table)] == durations[::-1]
        # A click on a heading sorts by it.
        await pilot.click(DataTable, offset=(6, 0))  # the "workflow" heading
        await settle(pilot)
        assert [r[1] for r in rows(table)][:2] == ["fan-out", "flaky-retry"]

    drive(app, scenario)
    saved = tomllib.loads(app.config.path.read_text())  # type: ignore[union-attr]
    assert saved["sort"] == {"executions": "workflow"}


def test_the_executions_filter_takes_a_status_and_matches_errors_too(
    seeded: store.Store, make_app
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "slash", *"failed", "enter")
        await settle(pilot)
        screen = app.screen
        assert (screen.status, screen.workflow) == ("failed", None)  # type: ignore[attr-defined]
        assert [r[1] for r in rows(screen.query_one(DataTable))] == ["flaky-retry"]
        await pilot.press("escape", "slash", *"upstream", "enter")  # in the error's text
        await settle(pilot)
        assert [r[0] for r in rows(screen.query_one(DataTable))] == ["3"]

    drive(make_app(seeded, embedded=False), scenario)


def test_filters_match_fuzzily_as_fzf_does(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2", "slash", *"rlsart", "enter")  # r…l…s…a…r…t
        await settle(pilot)
        assert [r[0] for r in rows(app.screen.query_one(DataTable))] == ["release-artifact"]
        await pilot.press("3", "slash", *"flky cncl", "enter")  # no such pair: nothing
        await settle(pilot)
        assert rows(app.screen.query_one(DataTable)) == []
        await pilot.press("escape", "slash", *"srvchk cncl", "enter")  # workflow and status
        await settle(pilot)
        assert [r[1] for r in rows(app.screen.query_one(DataTable))] == ["service-check"]

    drive(make_app(seeded, embedded=False), scenario)
