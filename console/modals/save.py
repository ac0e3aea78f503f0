"""Where to save a log: a path, with a default; a file that exists is kept unless asked."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class SavePathModal(ModalScreen[Path | None]):
    """Asks for a file to write ``what`` to; dismisses the path, or None (Esc).

    A path that exists is not overwritten on the first Enter: it says so, and a second
    Enter on the same path overwrites it (no key throws work away without asking).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save.cancel")]

    def __init__(self, what: str, default: Path) -> None:
        super().__init__()
        self.what = what
        self.default = default
        self._overwrite: Path | None = None  # the path the user was told exists

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="modal"):
            yield Static(f"Save {self.what} to:", markup=False)
            yield Input(str(self.default), id="path", select_on_focus=False)
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Save (Enter)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        error = self.query_one("#error", Static)
        text = self.query_one(Input).value.strip()
        if not text:
            error.update("Give a file to write to.")
            return
        path = Path(text).expanduser().absolute()
        if path.is_dir():
            error.update(f"{path} is a folder: name a file in it.")
            return
        if not path.parent.is_dir():
            error.update(f"There is no folder {path.parent}.")
            return
        if path.exists() and self._overwrite != path:
            self._overwrite = path
            error.update(f"{path} exists: Enter again replaces it.")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
