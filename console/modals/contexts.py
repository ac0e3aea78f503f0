"""``:ctx``: the stores named in config.toml, to switch to one (Enter) or stay (Esc).

Dismisses the chosen context's name, or None.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine import contexts


class ContextModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Stay", id="contexts.cancel")]

    def __init__(self, known: Mapping[str, contexts.Context], current: str) -> None:
        super().__init__()
        self.known = dict(known)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(
                "Stores ([contexts.NAME] in config.toml): Enter switches, Esc stays",
                classes="hint",
            )
            options = []
            for name, c in self.known.items():
                label = Text(("● " if name == self.current else "  ") + name, style="bold")
                shown = contexts.safe_url(c.url)  # never a password on the screen
                label.append(f"  {shown}" + ("  read-only" if c.read_only else ""), style="dim")
                options.append(Option(label, id=name))
            yield OptionList(*options, id="contexts")

    def on_mount(self) -> None:
        box = self.query_one(OptionList)
        names = list(self.known)
        box.highlighted = names.index(self.current) if self.current in names else 0
        box.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
