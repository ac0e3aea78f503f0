"""The key bar: the screen's own keys first, whole keys only, as many as fit."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from console.app import WorkflowConsole
from console.widgets.key_bar import KeyBar, fitted
from engine import store
from tests.console.support import drive, settle

OWN = [("c", "Cancel", True), ("R", "Re-run", True), ("/", "Filter", True)]
APP = [("q", "Quit", True), ("?", "Help", True)]


def test_everything_shows_when_it_fits() -> None:
    assert fitted(OWN, APP, ("^p", "palette", True), 200) == (
        *OWN,
        *APP,
        ("^p", "palette", True),
    )


def test_short_of_room_the_screen_s_last_keys_go_and_help_says_there_are_more() -> None:
    shown = fitted(OWN, APP, ("^p", "palette", True), 50)
    assert shown[:2] == tuple(OWN[:2])
    assert shown[-2:] == (("q", "Quit", True), ("?", "More keys", True))
    assert ("/", "Filter", True) not in shown and ("^p", "palette", True) not in shown


def test_at_80_columns_each_view_leads_with_its_own_actions(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        for view, first in (("3", " c Cancel   R Re-run"), ("2", " r Run   a Enable/disable")):
            await pilot.press(view)
            await settle(pilot)
            bar = str(app.screen.query_one(KeyBar).render())
            assert bar.startswith(first), bar
            assert len(bar) <= 80 and bar.rstrip().endswith(("Help", "More keys", "palette"))
        await pilot.press("3", "enter")
        await settle(pilot)
        bar = str(app.screen.query_one(KeyBar).render())
        assert "c Cancel" in bar and "R Re-run" in bar and len(bar) <= 80, bar

    drive(make_app(seeded, embedded=False), scenario, size=(80, 24))
