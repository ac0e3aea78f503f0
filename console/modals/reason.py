"""A question that needs a reason (rejecting an approval): dismisses the reason or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ReasonModal(ModalScreen[str | None]):
    """``question`` (markup), then a line for the reason; Enter gives it, Esc takes it back.

    An empty reason is refused: it is recorded with the decision, for whoever asks later
    why their run stopped.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason.cancel")]

    def __init__(self, question: str, yes: str) -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="modal"):
            yield Static(self.question)
            yield Input(placeholder="the reason (recorded with the decision)", id="reason")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (Esc)", id="cancel")
                yield Button(f"{self.yes} (Enter)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

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
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
