"""Quitting with executions running here: leave them for the next runner, cancel, or stay.

Leaving is the default: quitting a console should not throw work away. Dismisses
``"leave"``, ``"cancel"`` or None (stay).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def question(running: int, waiting: int) -> str:
    """What is at stake, in words: "2 executions are running here (1 waiting for approval)"."""
    are = "execution is" if running == 1 else "executions are"
    text = f"{running} {are} running here"
    if waiting:
        text += f" ({waiting} waiting for approval)"
    return text


class QuitModal(ModalScreen[str | None]):
    BINDINGS = [
        Binding("l,enter", "answer('leave')", "Leave them queued", id="quit.leave"),
        Binding("c", "answer('cancel')", "Cancel them", id="quit.cancel"),
        Binding("escape", "answer(None)", "Stay", id="quit.stay"),
    ]

    def __init__(self, running: int, waiting: int) -> None:
        super().__init__()
        self.running = running
        self.waiting = waiting

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(
                f"{question(self.running, self.waiting)}.\n\nLeave them queued for a worker"
                " or the next console, or cancel them?",
                id="quit-question",
            )
            with Horizontal(classes="buttons"):
                yield Button("Stay (Esc)", id="stay")
                yield Button("Cancel (c)", id="cancel", variant="error")
                yield Button("Leave (l)", id="leave", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#leave", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)
