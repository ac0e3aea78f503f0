"""``T`` in an execution: its steps as a Gantt chart, live while it runs."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from console import keys
from console.screens.base import View
from console.services import Services, TimelineView
from console.widgets import timeline
from console.widgets.key_bar import KeyBar
from console.widgets.title import Title
from engine import status

REFRESH = 1.0


class TimelineScreen(View):
    BINDINGS = [
        Binding("escape,backspace,T", "back", "Back", id="timeline.back"),
        *keys.cursor_keys("timeline"),
    ]

    def __init__(self, services: Services, execution_id: int) -> None:
        super().__init__(services)
        self.execution_id = execution_id
        self.view: TimelineView | None = None

    def compose(self) -> ComposeResult:
        yield Title(
            self.services.context, Text(f"Execution {self.execution_id}: timeline"), classes="title"
        )
        with VerticalScroll(id="timeline-body"):
            yield Static("", id="timeline", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_data()
        self.every(REFRESH, self.tick)

    def tick(self) -> None:
        if self.view is not None and self.view.execution.status in status.FINISHED:
            return  # nothing moves any more
        self.refresh_data()

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:
            query = partial(self.services.queries.timeline, self.execution_id)
            self.load(partial(self.read, query, self._show), force=force)

    def on_resize(self, event: events.Resize) -> None:
        if self.view is not None:
            self._show(self.view)

    def _show(self, view: TimelineView) -> None:
        self.view = view
        e = view.execution
        self.query_one(".title", Static).update(
            Text(
                f"Execution {e.id}  {e.workflow_name} v{e.version}  "
                f"{e.status.replace('_', ' ')}: timeline"
            )
        )
        width = self.query_one("#timeline-body").size.width or self.app.size.width
        self.query_one("#timeline", Static).update(
            timeline.draw(e, view.runs, self.services.clock(), width - 2, self.app.theme_variables)
        )

    def copyable(self) -> tuple[str, str] | None:
        return "execution id", str(self.execution_id)

    def action_back(self) -> None:
        self.dismiss()

    def action_cursor(self, step: int) -> None:
        self.query_one("#timeline-body", VerticalScroll).scroll_relative(y=step, animate=False)

    def action_edge(self, end: int) -> None:
        body = self.query_one("#timeline-body", VerticalScroll)
        (body.scroll_end if end else body.scroll_home)(animate=False)
