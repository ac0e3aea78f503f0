"""``?``: every binding of the screen underneath, with its id for remapping."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


class HelpModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.heading = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="modal"):
            yield Static(f"Keys: {self.heading}", classes="title")
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("key", "action", "id (config.toml [keys])")
            for row in self.rows:
                table.add_row(*row)
            yield table
            yield Static("Remap any key in config.toml under [keys]. Esc closes.", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
