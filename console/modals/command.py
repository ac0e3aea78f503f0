"""``:`` jumps to a view: ``:executions failed``, ``:workflows backup``, ``:health``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

VIEWS = ("dashboard", "workflows", "executions", "health")


def parse(text: str) -> tuple[str, str | None]:
    """The view a command names and its argument; ValueError says what is wrong."""
    words = text.strip().lstrip(":").split(maxsplit=1)
    if not words:
        raise ValueError("type a view: " + ", ".join(VIEWS))
    matches = [v for v in VIEWS if v.startswith(words[0].lower())]
    if len(matches) != 1:
        raise ValueError(f"no view {words[0]!r}; views: {', '.join(VIEWS)}")
    return matches[0], (words[1] if len(words) > 1 else None)


class CommandModal(ModalScreen[tuple[str, str | None] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static("Go to a view (e.g. executions failed, workflows backup)", classes="hint")
            yield Input(placeholder=":", id="command-input")
            yield Static("", id="error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse(event.value))
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))

    def action_cancel(self) -> None:
        self.dismiss(None)
