"""One workflow: its definition, syntax-highlighted, and its recent executions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from console import format
from console.screens.base import View
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from engine import store
from engine.errors import EngineError, NotFound

if TYPE_CHECKING:
    from console.app import WorkflowConsole


class WorkflowDetailScreen(View):
    AUTO_FOCUS = "#runs"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="workflow.back"),
        Binding("r", "run", "Run", id="workflow.run"),
        Binding("a", "toggle_active", "Enable/disable", id="workflow.toggle"),
        Binding("tab", "app.focus_next", "Switch pane", id="workflow.focus", show=False),
    ]

    app: WorkflowConsole

    def __init__(self, name: str) -> None:
        super().__init__()
        self.workflow_name = name
        self.definition_text = ""

    def compose(self) -> ComposeResult:
        yield Static(self.workflow_name, classes="title", id="heading")
        with VerticalScroll(id="definition"):
            yield Static(id="source")
        yield Static("Recent executions", classes="hint")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("id", "status", "trigger", "started", "duration", "error"):
            table.add_column(key, key=key)
        self.refresh_data()
        self.every(1.0, self.refresh_data)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.show_source(force=True))

    def refresh_data(self) -> None:
        if not self.is_current:
            return  # a view out of sight costs nothing
        db = self.app.db
        try:
            row = store.get_workflow(db, self.workflow_name)
            runs, total = store.list_executions(db, workflow=self.workflow_name, limit=20)
        except NotFound:
            self.notify(f"Workflow {self.workflow_name} was removed")
            self.app.pop_screen()
            return
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        state = "active" if row.active else "disabled"
        self.query_one("#heading", Static).update(
            f"{row.name}  v{row.version}, {state}, {total} execution(s)"
            + (f"  — {row.description}" if row.description else "")
        )
        if row.definition != self.definition_text:
            self.definition_text = row.definition
            self.show_source()
        now, v = self.app.clock(), self.app.theme_variables
        tables.sync(
            self.query_one(DataTable),
            [
                (
                    str(e.id),
                    [
                        str(e.id),
                        format.status(e.status, v),
                        e.trigger,
                        format.ago(e.started_at or e.queued_at, now),
                        format.duration(e.duration_ms),
                        (e.error or "")[:60],
                    ],
                )
                for e in runs
            ],
        )

    def show_source(self, force: bool = False) -> None:
        theme = self.app.current_theme
        pygments = "ansi_dark" if theme.ansi else ("monokai" if theme.dark else "default")
        if theme.ansi and not theme.dark:
            pygments = "ansi_light"
        self.query_one("#source", Static).update(
            Syntax(
                self.definition_text,
                "yaml",
                theme=pygments,
                background_color="default",
                line_numbers=True,
            )
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.open_execution(int(event.row_key.value))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_run(self) -> None:
        self.app.ask_and_run(self.workflow_name)

    def action_toggle_active(self) -> None:
        try:
            row = store.get_workflow(self.app.db, self.workflow_name)
            store.set_active(self.app.db, self.workflow_name, not row.active)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        self.refresh_data()
