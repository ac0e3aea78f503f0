"""Settle a step (``wfe step --mark``): succeeded or failed, and why. Dismisses
``(status, reason)`` or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

CHOICES = ("succeeded", "failed")


class MarkModal(ModalScreen[tuple[str, str] | None]):
    """``question`` (markup), the mark (↑/↓ switch it), a line for the reason; Enter marks,
    Esc takes it back. An empty reason is refused: it is recorded with who marked it."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="mark.cancel"),
        Binding("up,down", "switch", "Succeeded/failed", id="mark.switch"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question
        self.choice = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="modal"):
            yield Static(self.question)
            yield Static(self._choices(), id="choice")
            yield Input(placeholder="the reason (recorded with who marked it)", id="reason")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Mark (Enter)", id="yes", variant="warning")

    def _choices(self) -> str:
        marks = [
            f"[b]● {name}[/b]" if i == self.choice else f"○ {name}"
            for i, name in enumerate(CHOICES)
        ]
        return "Mark it:  " + "   ".join(marks) + "   [dim](↑↓ switch)[/dim]"

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_switch(self) -> None:
        self.choice = 1 - self.choice
        self.query_one("#choice", Static).update(self._choices())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        reason = " ".join(self.query_one(Input).value.split())
        if not reason:
            self.query_one("#error", Static).update("Say why: the reason is recorded.")
            return
        self.dismiss((CHOICES[self.choice], reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
