"""Every execution, newest first, paged, filterable by status and workflow."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from console import format
from console.messages import CancelExecution, OpenExecution, RerunExecution
from console.screens import paged
from console.services import Services
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from engine.status import ExecutionStatus

if TYPE_CHECKING:
    from engine import store

PAGE = paged.PAGE
STATUS_CYCLE = (None, *(s.value for s in ExecutionStatus))


class ExecutionsScreen(paged.PagedList):
    AUTO_FOCUS = "#table"
    BINDINGS = [
        Binding("slash", "filter", "Filter workflow", id="executions.filter"),
        Binding("s", "cycle_status", "Status filter", id="executions.status"),
        Binding("escape", "clear_filter", "Clear filters", id="executions.clear", show=False),
        Binding("c", "cancel", "Cancel", id="executions.cancel"),
        Binding("R", "rerun", "Re-run", id="executions.rerun"),
        *paged.navigation("executions"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.status: str | None = None
        self.workflow: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Executions", classes="title", id="heading")
        yield Input(placeholder="workflow name; Enter applies, Esc clears", id="filter")
        yield tables.Table(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", classes="hint", id="pager")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("id", "workflow", "status", "trigger", "started", "duration", "error"):
            table.add_column(key, key=key)
        self.refresh_data()
        self.every(1.0, self.refresh_data)

    def show_filter(self, argument: str | None) -> None:
        status = argument if argument in STATUS_CYCLE else None
        self.set_filters(status, argument if argument and status is None else None)

    def set_filters(self, status: str | None = None, workflow: str | None = None) -> None:
        self.status, self.workflow, self.page_start = status, workflow, 0
        if self.is_mounted:
            self.refresh_data(force=True)

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:  # a view out of sight costs nothing
            page = partial(
                self.services.queries.executions,
                status=self.status,
                workflow=self.workflow,
                offset=self.page_start,
                limit=PAGE,
            )
            self.load(self.read(page, self._show), force=force)

    def _show(self, page: tuple[list[store.Execution], int]) -> None:
        rows, total = page
        self.total = total
        now, v = self.services.clock(), self.app.theme_variables
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
        where = f" ({', '.join(filters)})" if filters else ""
        self.query_one("#pager", Static).update(
            self.pager_text(len(rows), where, "[ ] pages, s status, / workflow")
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
            self.post_message(OpenExecution(int(event.row_key.value)))

    def action_cancel(self) -> None:
        execution_id = self.selected()
        if execution_id is not None:
            self.post_message(CancelExecution(execution_id))

    def action_rerun(self) -> None:
        execution_id = self.selected()
        if execution_id is not None:
            self.post_message(RerunExecution(execution_id))
