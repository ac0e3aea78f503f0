"""Ask for a run's parameters, showing their defaults; dismisses the values or None."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine import definition
from engine.errors import InvalidParams


class ParamsModal(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="params.cancel")]

    def __init__(
        self, workflow: definition.Workflow, defaults: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.workflow = workflow
        self.values = {**workflow.params, **(defaults or {})}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="modal"):
            yield Static(f"Run [b]{self.workflow.name}[/b]", classes="title")
            if not self.values:
                yield Static("This workflow takes no parameters.", classes="hint")
            for name, value in self.values.items():
                default = self.workflow.params.get(name)
                yield Label(f"{name}  [dim](default {json.dumps(default)})[/dim]")
                text = value if isinstance(value, str) else json.dumps(value)
                yield Input(text, id=f"param-{name}", name=name)
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Run", id="run", variant="primary")

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()
        else:
            self.query_one("#run", Button).focus()

    def _collect(self) -> dict[str, Any] | None:
        raw = {i.name or "": i.value for i in self.query(Input)}
        try:
            return self.workflow.coerce_params(raw)
        except InvalidParams as exc:
            self.query_one("#error", Static).update(str(exc))
            return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        values = self._collect()
        if values is not None:
            self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
