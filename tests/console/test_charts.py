"""The charts: the whole store over the last hour or day, and each workflow's last runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from textual_plotext import PlotextPlot

from console import format
from console.app import WorkflowConsole
from console.screens.charts import ChartsScreen, plot_colour, y_ticks
from console.widgets import tables
from engine import store
from tests.console.support import NOW, drive, rows, settle


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The charts label their axes in local time: the same picture on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def test_C_opens_the_charts_of_the_last_hour_and_H_the_last_day(
    seeded: store.Store, make_app
) -> None:
    expected = store.charts(seeded, hours=1, now=NOW)

    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        label = str(app.screen.query_one("#trend-label", Static).render())
        done = sum(expected.succeeded)
        assert (
            f"last hour: done ✓{done} ✗{sum(expected.failed)} ⊘{sum(expected.cancelled)}" in label
        )
        await pilot.press("C")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChartsScreen) and screen.shown == expected
        finished = screen.query_one("#chart-finished", PlotextPlot)
        picture = str(finished.render())
        assert "done/min ✓" in picture and "11:01" in picture and "12:00" in picture
        await pilot.press("H")
        await settle(pilot)
        assert screen.shown is not None and screen.shown.bucket == 1200
        assert "last 24 hours" in str(screen.query_one(".title", Static).render())
        assert sum(screen.shown.succeeded) == 3  # the seeded day: three succeeded
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ChartsScreen)

    drive(make_app(seeded, embedded=False), scenario)


def test_each_workflow_shows_its_last_runs_as_a_strip_and_their_durations(
    seeded: store.Store, make_app
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await settle(pilot)
        shown = {row[0]: row for row in rows(app.screen.query_one(tables.Table))}
        heading = [str(c.label) for c in app.screen.query_one(tables.Table).ordered_columns]
        strip, durations = heading.index("last 10"), heading.index("durations")
        assert shown["flaky-retry"][strip] == "✗✓"  # failed an hour ago, then succeeded
        assert shown["flaky-retry"][durations] == "█▄"  # 1,500 ms, then 640 ms
        assert shown["fan-out"][strip] == "✓"

    drive(make_app(seeded, embedded=False), scenario)


def test_strips_scale_to_the_longest_run_and_mark_a_run_without_a_duration() -> None:
    runs = store.LastRuns(["succeeded", "failed", "running"], [100.0, 800.0, None])
    assert format.durations_strip(runs) == "▂█·"
    assert format.runs_strip(runs, {}).plain == "✓✗▶"
    assert format.durations_strip(None) == "-"


def test_axes_get_round_numbers_and_theme_colours_become_plotext_colours() -> None:
    assert y_ticks(0) == [0, 1]
    assert y_ticks(3) == [0, 1, 2, 3]
    assert y_ticks(9) == [0, 5, 10]
    assert y_ticks(412)[-1] >= 412 and len(y_ticks(412)) <= 5
    assert plot_colour("#5fafd7") == (0x5F, 0xAF, 0xD7)
    assert plot_colour("ansi_bright_red") == "red+"
    assert plot_colour("ansi_green") == "green"
    assert plot_colour("ansi_default") == "default"
