"""One number on the dashboard, with its label."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class StatPanel(Vertical):
    def __init__(self, label: str, *, id: str) -> None:
        super().__init__(id=id)
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="stat-label")
        yield Static("-", classes="stat-value")

    def show(self, value: str, *, bad: bool = False) -> None:
        self.query_one(".stat-value", Static).update(value)
        self.set_class(bad, "bad")
