"""What the list screens share: paging, the filter box and vim-style cursor keys."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable, Input

from console.screens.base import View

PAGE = 50


def navigation(prefix: str) -> list[Binding]:
    """The list keys, with ids under ``prefix`` so each screen's can be remapped."""
    return [
        Binding("right_square_bracket", "page(1)", "Next page", id=f"{prefix}.next_page"),
        Binding("left_square_bracket", "page(-1)", "Prev page", id=f"{prefix}.prev_page"),
        Binding("j", "cursor(1)", "Down", id=f"{prefix}.down", show=False),
        Binding("k", "cursor(-1)", "Up", id=f"{prefix}.up", show=False),
        Binding("g", "edge(0)", "Top", id=f"{prefix}.top", show=False),
        Binding("G", "edge(1)", "Bottom", id=f"{prefix}.bottom", show=False),
    ]


class PagedList(View):
    """A list screen with a ``#filter`` Input and a ``DataTable``, a page at a time."""

    page_start = 0
    total = 0

    def show_filter(self, argument: str | None) -> None:
        """Show what ``:view ARGUMENT`` asks for (the App's command line)."""

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    def hide_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("visible")
        self.query_one(DataTable).focus()

    def action_page(self, step: int) -> None:
        new = self.page_start + step * PAGE
        if 0 <= new < max(self.total, 1):
            self.page_start = new
            self.refresh_data(force=True)

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + step)

    def action_edge(self, end: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=(table.row_count - 1) if end else 0)

    def pager_text(self, shown: int, where: str, keys: str) -> str:
        span = (
            f"{self.page_start + 1}-{self.page_start + shown} of {self.total}" if shown else "none"
        )
        return f"{span}{where}  ({keys})"
