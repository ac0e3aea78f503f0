"""Shown when the store cannot be opened: the reason, then any key quits (exit 1)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static


class StoreErrorScreen(Screen[None]):
    BINDINGS = [Binding("q,escape,enter", "app.quit", "Quit", id="error.quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        text = Text.assemble(
            ("wfe cannot open its store", "bold"), f"\n\n{self.message}\n\nPress q to quit."
        )  # the reason as it is: a path or a server's message may hold brackets
        yield Static(text, id="store-error")

    def on_key(self) -> None:
        self.app.exit(1, return_code=1)
