"""``?``: the whole list of a screen's keys, never cut, at 80x24 and 120x40.

What is checked is the frame as drawn (the text a person sees), on the real console: the
execution detail has the most keys, the dashboard is where one starts.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from console.app import WorkflowConsole
from console.modals.help import FOOTER, HelpScreen
from console.screens.dashboard import DashboardScreen
from console.screens.execution_detail import ExecutionDetailScreen
from engine import store
from tests.console.support import drive, rows, settle

SIZES = [(80, 24), (120, 40)]


def screen_text(app: WorkflowConsole) -> list[str]:
    """The frame as plain text, line by line (what App.export_screenshot draws)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def shown_ids(lines: list[str], ids: set[str]) -> set[str]:
    """The ids drawn whole: ``execution.next`` inside ``execution.next_pa`` does not count."""
    text = "\n".join(lines)
    return {i for i in ids if re.search(rf"(?<![\w.]){re.escape(i)}(?![\w.])", text)}


def line_of(lines: list[str], ident: str) -> str:
    found = [line for line in lines if re.search(rf"\s{re.escape(ident)}\s*\S?$", line)]
    assert found, ident
    return found[0]


async def open_help(pilot: Pilot[Any], *keys: str) -> HelpScreen:
    await pilot.press(*keys, "question_mark")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HelpScreen)
    return screen


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_help_shows_every_id_whole_and_keys_as_written(
    seeded: store.Store, make_app, size: tuple[int, int]
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)
        help = await open_help(pilot)
        ids = {row[2] for row in help.rows if row[2]}
        assert {"execution.next_page", "execution.follow", "app.help", "app.command"} <= ids
        top = screen_text(app)
        assert top[-1].strip() == FOOTER  # shown as written: "[keys]" is not markup
        assert "question_mark" not in "".join(top) and "right_square_bracket" not in "".join(top)
        await pilot.press("G")
        await settle(pilot)
        bottom = screen_text(app)
        # Between the top of the list and its end, every id was on screen, none cut.
        assert shown_ids(top, ids) | shown_ids(bottom, ids) == ids
        for lines, ident, key in [
            (top, "execution.back", "Esc / Backspace"),
            (top + bottom, "execution.next_page", "]"),  # (the list's middle, at 80x24)
            (bottom, "app.help", "?"),
            (bottom, "app.command", ":"),
        ]:
            assert line_of(lines, ident).split()[0] == key.split()[0], ident
        assert "ctrl+p" in bottom[-2] or any("Command palette" in line for line in bottom)

    drive(make_app(seeded, embedded=False), scenario, size=size)


def test_the_list_scrolls_to_its_end_at_80x24(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        help = await open_help(pilot)
        table = help.query_one(DataTable)
        first, last = help.rows[0], help.rows[-1]
        assert len(help.rows) > table.size.height  # the point: it does not fit
        assert not any(last[1] in line for line in screen_text(app))
        for down, up in [("G", "g"), ("end", "home")]:
            await pilot.press(down)
            await settle(pilot)
            lines = screen_text(app)
            assert table.cursor_row == len(help.rows) - 1
            assert any(last[0] in line and last[1] in line for line in lines), down
            assert not any(first[1] in line for line in lines)
            await pilot.press(up)
            await settle(pilot)
            assert any(first[1] in line for line in screen_text(app)), up

    drive(make_app(seeded, embedded=False), scenario, size=(80, 24))


def test_typing_searches_and_escape_clears_then_closes(seeded: store.Store, make_app) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        await pilot.press("3", "enter")
        await settle(pilot)
        help = await open_help(pilot)
        table = help.query_one(DataTable)
        everything = len(help.rows)
        await pilot.press(*"foll")
        await settle(pilot)
        assert help.query_one(Input).value == "foll"
        assert rows(table) == [["f", "Follow", "execution.follow"]]
        assert any(f'1 of {everything} match "foll"' in line for line in screen_text(app))
        await pilot.press("escape")  # clears the search, stays
        await settle(pilot)
        assert app.screen is help and help.query_one(Input).value == ""
        assert table.row_count == everything
        await pilot.press("slash", *"page")  # `/` searches too, ids included
        await settle(pilot)
        assert {r[2] for r in rows(table)} == {"execution.next_page", "execution.prev_page"}
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionDetailScreen)

    drive(make_app(seeded, embedded=False), scenario, size=(80, 24))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard_help_is_whole_and_shows_a_remapped_key(
    seeded: store.Store, make_app, size: tuple[int, int]
) -> None:
    async def scenario(app: WorkflowConsole, pilot: Pilot[Any]) -> None:
        assert isinstance(app.screen, DashboardScreen)
        help = await open_help(pilot)
        ids = {row[2] for row in help.rows if row[2]}
        assert {"dashboard.approve", "dashboard.reject", "app.quit"} <= ids
        top = screen_text(app)
        await pilot.press("G")
        await settle(pilot)
        assert shown_ids(top, ids) | shown_ids(screen_text(app), ids) == ids
        assert line_of(top, "dashboard.approve").split()[0] == "F9"
        assert top[-1].strip() == FOOTER
        await pilot.press("q")  # q closes help, not the console
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and app.is_running

    drive(make_app(seeded, embedded=False, keys={"dashboard.approve": "f9"}), scenario, size=size)
