"""``?``: every binding of the screen underneath, with its id for remapping.

A full screen, not a modal: a detail view has two dozen keys, more than a box at 80x24
shows. The list scrolls and narrows as you type; ids are never cut, because an id is what
``config.toml`` needs: the action column gives way (wraps) when room runs short.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from console import keys

HEADER = ("key", "action", "id")
FOOTER = "Remap any key in config.toml under [keys] by its id. Esc closes."
MIN_ACTION = 12  # below this the table scrolls sideways rather than wrap every word


class HelpScreen(Screen[None]):
    """The keys of one screen: ``rows`` are (Textual key string, action, binding id)."""

    AUTO_FOCUS = "#help-table"
    DEFAULT_CSS = """
    HelpScreen #help-search {
        padding: 0 1;
    }
    HelpScreen #help-table {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Clear search / close", id="help.back"),
        Binding("q,question_mark", "close", "Close", id="help.close"),
        Binding("slash", "search", "Search", id="help.search"),
        *keys.cursor_keys("help"),
    ]

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.heading = title
        self.rows = [(keys.display(key), action, ident) for key, action, ident in rows]
        self.shown = self.rows

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Keys: {self.heading}"), classes="title", id="help-title")
        yield Input(
            placeholder="/ or type to search keys, actions and ids; Esc clears",
            id="help-search",
            compact=True,
            select_on_focus=False,
        )
        yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
        yield Static(FOOTER, classes="hint", id="help-footer", markup=False)

    def on_resize(self, event: events.Resize) -> None:
        self._fill(event.size.width)

    def on_input_changed(self, event: Input.Changed) -> None:
        needle = event.value.strip().lower()
        self.shown = [row for row in self.rows if any(needle in cell.lower() for cell in row)]
        title = f"Keys: {self.heading}"
        if needle:
            title += f' ({len(self.shown)} of {len(self.rows)} match "{needle}")'
        self.query_one("#help-title", Static).update(Text(title))
        self._fill(self.size.width)
        self.query_one(DataTable).move_cursor(row=0)

    def on_input_submitted(self) -> None:
        self.query_one(DataTable).focus()

    def on_key(self, event: events.Key) -> None:
        """Typing what the list has no key for starts a search with it (`1` is not a view).

        Home and End go to the first and last key: the table's own would only scroll it
        sideways, and a key seen before its bindings is the way to take them over.
        """
        box = self.query_one(Input)
        if not box.has_focus and event.key in ("home", "end"):
            event.stop()
            event.prevent_default()
            self.action_edge(int(event.key == "end"))
            return
        if box.has_focus or not event.is_printable or not (event.character or "").strip():
            return
        if any(b.node is self for k, b in self.active_bindings.items() if k == event.key):
            return
        event.stop()
        event.prevent_default()
        box.focus()
        box.insert_text_at_cursor(event.character or "")

    def _fill(self, width: int) -> None:
        """Lay the rows out in ``width`` cells: key and id in full, the action takes the rest."""
        table: DataTable[Text] = self.query_one(DataTable)
        cursor = table.cursor_row  # a resize lays the table out again: stay on the same row
        table.clear(columns=True)
        key_width, action_width, id_width = (
            max(cell_len(row[column]) for row in [HEADER, *self.rows]) for column in range(3)
        )
        # Each column has a cell of padding either side; keep room for the scrollbar.
        room = width - table.styles.scrollbar_size_vertical - 6 * table.cell_padding
        action_width = max(min(action_width, room - key_width - id_width), MIN_ACTION)
        for label, column_width in zip(HEADER, (key_width, action_width, id_width), strict=True):
            table.add_column(Text(label), width=column_width)
        for cells in self.shown:
            table.add_row(*(Text(cell) for cell in cells), height=None)
        table.move_cursor(row=cursor)

    def action_back(self) -> None:
        """Esc empties the search first, and closes once there is none."""
        box = self.query_one(Input)
        if box.value:
            box.value = ""
            self.query_one(DataTable).focus()
        else:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_search(self) -> None:
        self.set_focus(self.query_one(Input))  # now: a burst's next keys are typed in

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + step)

    def action_edge(self, end: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=(table.row_count - 1) if end else 0)
