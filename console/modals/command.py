"""``:`` jumps to a view: ``:executions failed``, ``:workflows backup``, ``:health``;
``:e 3`` (or ``:exec 3``) opens execution 3, ``:q`` quits."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

VIEWS = ("dashboard", "workflows", "executions", "health")


QUIT = ("q", "quit")


def parse(text: str) -> tuple[str, str | None]:
    """The view a command names and its argument; ValueError says what is wrong.

    The view is "execution" (with the id as argument) for ``:e 3``, ``:exec 3`` or
    ``:executions 3``, and "quit" for ``:q``.
    """
    words = text.strip().lstrip(":").split(maxsplit=1)
    if not words:
        raise ValueError("type a view: " + ", ".join(VIEWS))
    word, argument = words[0].lower(), (words[1].strip() if len(words) > 1 else None)
    if word in QUIT and argument is None:
        return "quit", None
    matches = [v for v in VIEWS if v.startswith(word)]
    if len(matches) != 1:
        raise ValueError(f"no view {words[0]!r}; views: {', '.join(VIEWS)}, or q to quit")
    if matches[0] == "executions" and argument is not None and argument.lstrip("#").isdigit():
        return "execution", argument.lstrip("#")
    return matches[0], argument


class CommandModal(ModalScreen[tuple[str, str | None] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(
                "Go to a view (executions failed, workflows backup);"
                " e 12 opens execution 12, q quits",
                classes="hint",
            )
            yield Input(placeholder=":", id="command-input")
            yield Static("", id="error", classes="error", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse(event.value))
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))

    def action_cancel(self) -> None:
        self.dismiss(None)
