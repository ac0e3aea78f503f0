"""What the list screens share: paging, the filter box and vim-style cursor keys."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable, Input

from console import keys
from console.screens.base import View
from console.widgets import tables

PAGE = 50


def navigation(prefix: str) -> list[Binding]:
    """The list keys, with ids under ``prefix`` so each screen's can be remapped."""
    return [
        Binding("o", "sort", "Sort", id=f"{prefix}.sort"),
        Binding("space", "mark", "Mark", id=f"{prefix}.mark", show=False),
        Binding("v", "mark_range", "Mark to here", id=f"{prefix}.mark_range", show=False),
        Binding("U", "unmark", "Unmark all", id=f"{prefix}.unmark", show=False),
        Binding("O", "flip_sort", "Reverse sort", id=f"{prefix}.reverse", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", id=f"{prefix}.next_page"),
        Binding("left_square_bracket", "page(-1)", "Prev page", id=f"{prefix}.prev_page"),
        *keys.cursor_keys(prefix),
    ]


class PagedList(View):
    """A list screen with a ``#filter`` Input and a ``DataTable``, a page at a time.

    Sorted by the store (the whole list, not the page shown), by one of ``SORTS`` (column
    keys; the first is the default, in ``DESCENDING_FIRST`` order): ``o`` goes to the next
    column, ``O`` reverses, a click on a heading sorts by it (again: reverses). The order
    is kept in ``config.toml`` under ``[sort]``, by ``VIEW``.
    """

    page_start = 0
    total = 0
    VIEW = ""
    SORTS: tuple[str, ...] = ()
    DESCENDING_FIRST = False

    @property
    def order(self) -> tuple[str, bool]:
        """The column sorted by, and whether descending (from config.toml, else the default)."""
        column, _, direction = self.services.config.sort.get(self.VIEW, "").partition(" ")
        if column not in self.SORTS:
            return self.SORTS[0], self.DESCENDING_FIRST
        return column, direction == "desc"

    def _sort_by(self, column: str, descending: bool) -> None:
        self.services.config.sort[self.VIEW] = f"{column} desc" if descending else column
        self.services.save_config()
        self.page_start = 0
        self.refresh_data(force=True)

    def action_sort(self) -> None:
        column, descending = self.order
        following = self.SORTS[(self.SORTS.index(column) + 1) % len(self.SORTS)]
        self._sort_by(following, descending)

    def action_flip_sort(self) -> None:
        column, descending = self.order
        self._sort_by(column, not descending)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column not in self.SORTS:
            self.notify(f"The list cannot be sorted by {column}; by {', '.join(self.SORTS)}")
            return
        current, descending = self.order
        self._sort_by(column, not descending if column == current else descending)

    # -- marks: space marks a row, v marks from the last mark to here, U unmarks all ------

    _last_mark: str | None = None

    def marked(self) -> list[str]:
        """The rows an action acts on: those marked, else the one under the cursor."""
        table = self.query_one(tables.Table)
        marks = table.marks()
        if marks:
            return marks
        key = tables.selected_key(table)
        return [key] if key is not None else []

    def action_mark(self) -> None:
        table = self.query_one(tables.Table)
        key = tables.selected_key(table)
        if key is None:
            return
        table.set_marks(table.marked ^ {key})
        self._last_mark = key if key in table.marked else None
        table.move_cursor(row=table.cursor_row + 1, animate=False)

    def action_mark_range(self) -> None:
        table = self.query_one(tables.Table)
        here = tables.selected_key(table)
        keys = [row.key.value for row in table.ordered_rows]
        if here is None or self._last_mark not in keys:
            self.action_mark()
            return
        a, b = sorted((keys.index(self._last_mark), keys.index(here)))
        table.set_marks(table.marked | {k for k in keys[a : b + 1] if k is not None})

    def action_unmark(self) -> None:
        self.query_one(tables.Table).set_marks(set())
        self._last_mark = None

    def done_with_marks(self) -> None:
        """An action took the marked rows: the marks go."""
        self.action_unmark()

    def sort_text(self) -> str:
        column, descending = self.order
        return f", by {column} {'↓' if descending else '↑'}"

    def show_filter(self, argument: str | None) -> None:
        """Show what ``:view ARGUMENT`` asks for (the App's command line)."""

    def action_filter(self) -> None:
        """Open the filter box, focused at once: keys that came in the same burst as ``/``
        (a paste, keys bunched over SSH) are typed into it, never run as list commands.

        ``Widget.focus`` would move the focus only after the messages already queued,
        and those are the burst's keys.
        """
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        self.set_focus(box)

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
        """``G`` the last row; ``g`` the top as of the moment it is pressed: the page is
        read again and the cursor goes to its first row once it is shown."""
        table = self.query_one(DataTable)
        table.move_cursor(row=(table.row_count - 1) if end else 0, animate=False)
        if not end:
            self.query_one(tables.Table).top_on_next_show = True
            self.refresh_data(force=True)

    def pager_text(self, shown: int, where: str, hints: str) -> str:
        span = (
            f"{self.page_start + 1}-{self.page_start + shown} of {self.total}" if shown else "none"
        )
        return f"{span}{where}  ({hints})"
