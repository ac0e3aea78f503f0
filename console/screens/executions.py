"""Every execution, newest first, paged, filterable by status and workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from console import format
from console.screens import paged
from console.screens.base import View
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from engine import store
from engine.errors import EngineError
from engine.status import ExecutionStatus

if TYPE_CHECKING:
    from console.app import WorkflowConsole

PAGE = paged.PAGE
STATUS_CYCLE = (None, *(s.value for s in ExecutionStatus))


class ExecutionsScreen(paged.PagedList, View):
    AUTO_FOCUS = "#table"
    BINDINGS = [
        Binding("slash", "filter", "Filter workflow", id="executions.filter"),
        Binding("s", "cycle_status", "Status filter", id="executions.status"),
        Binding("escape", "clear_filter", "Clear filters", id="executions.clear", show=False),
        Binding("c", "cancel", "Cancel", id="executions.cancel"),
        Binding("R", "rerun", "Re-run", id="executions.rerun"),
        *paged.navigation("executions"),
    ]

    app: WorkflowConsole

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None
        self.workflow: str | None = None
        self.page_start = 0
        self.total = 0

    def compose(self) -> ComposeResult:
        yield Static("Executions", classes="title", id="heading")
        yield Input(placeholder="workflow name; Enter applies, Esc clears", id="filter")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", classes="hint", id="pager")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("id", "workflow", "status", "trigger", "started", "duration", "error"):
            table.add_column(key, key=key)
        self.refresh_data()
        self.every(1.0, self.refresh_data)

    def set_filters(self, status: str | None = None, workflow: str | None = None) -> None:
        self.status, self.workflow, self.page_start = status, workflow, 0
        if self.is_mounted:
            self.refresh_data()

    def refresh_data(self) -> None:
        if not self.is_current:
            return  # a view out of sight costs nothing
        try:
            rows, self.total = store.list_executions(
                self.app.db,
                status=self.status,
                workflow=self.workflow,
                offset=self.page_start,
                limit=PAGE,
            )
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        now, v = self.app.clock(), self.app.theme_variables
        tables.sync(
            self.query_one(DataTable),
            [
                (
                    str(e.id),
                    [
                        str(e.id),
                        e.workflow_name,
                        format.status(e.status, v),
                        e.trigger,
                        format.ago(e.started_at or e.queued_at, now),
                        format.duration(e.duration_ms),
                        (e.error or "")[:50],
                    ],
                )
                for e in rows
            ],
        )
        filters = [f for f in (self.status, self.workflow and f"workflow {self.workflow}") if f]
        shown = (
            f"{self.page_start + 1}-{self.page_start + len(rows)} of {self.total}"
            if rows
            else "none"
        )
        where = f" ({', '.join(filters)})" if filters else ""
        self.query_one("#pager", Static).update(
            f"{shown}{where}  ([ ] pages, s status, / workflow)"
        )

    def selected(self) -> int | None:
        key = tables.selected(self.query_one(DataTable))
        return int(key) if key else None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.set_filters(self.status, event.value.strip() or None)
        self.query_one(DataTable).focus()

    def action_clear_filter(self) -> None:
        self.hide_filter()
        self.set_filters(None, None)

    def action_cycle_status(self) -> None:
        i = STATUS_CYCLE.index(self.status)
        self.set_filters(STATUS_CYCLE[(i + 1) % len(STATUS_CYCLE)], self.workflow)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.open_execution(int(event.row_key.value))

    def action_cancel(self) -> None:
        execution_id = self.selected()
        if execution_id is not None:
            self.app.ask_and_cancel(execution_id)

    def action_rerun(self) -> None:
        execution_id = self.selected()
        if execution_id is not None:
            self.app.rerun(execution_id)
