"""Every execution, newest first, paged, filterable by status and workflow."""

from __future__ import annotations

from functools import partial

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from console import format
from console.messages import (
    CancelExecution,
    CancelExecutions,
    OpenExecution,
    RerunExecution,
    RerunExecutions,
)
from console.screens import paged
from console.services import ExecutionPage, Services
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from console.widgets.tables import Column
from console.widgets.title import Title
from engine.status import ExecutionStatus

PAGE = paged.PAGE
STATUS_CYCLE = (None, *(s.value for s in ExecutionStatus))
COLUMNS = (
    Column("id"),
    Column("workflow", most=28, least=8),
    Column("status", most=24, least=12),
    Column("started", priority=2),
    Column("duration", priority=2),
    Column("runner", priority=4, most=24),
    Column("trigger", priority=5),
    Column("error", priority=3, most=60, least=10),
)


class ExecutionsScreen(paged.PagedList):
    AUTO_FOCUS = "#table"
    VIEW = "executions"
    SORTS = ("id", "started", "duration", "status", "workflow", "trigger")
    DESCENDING_FIRST = True  # newest first
    BINDINGS = [
        Binding("c", "cancel", "Cancel", id="executions.cancel"),
        Binding("R", "rerun", "Re-run", id="executions.rerun"),
        Binding("slash", "filter", "Filter", id="executions.filter"),
        Binding("s", "cycle_status", "Status", id="executions.status"),
        Binding("escape", "clear_filter", "Clear filters", id="executions.clear", show=False),
        *paged.navigation("executions"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.status: str | None = None
        self.workflow: str | None = None

    def compose(self) -> ComposeResult:
        yield Title(self.services.context, "Executions", classes="title", id="heading")
        yield Input(
            placeholder="a status, or part of a workflow, trigger or error; Enter applies",
            id="filter",
        )
        yield tables.Table(COLUMNS, id="table")
        yield Static("", classes="hint", id="pager", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_data()
        self.every(1.0, self.refresh_data)

    def show_filter(self, argument: str | None, *, status: str | None = None) -> None:
        """``:executions failed backup``: a status (in any place), and part of a name;
        ``status`` is kept when no word names one."""
        words = (argument or "").split()
        statuses = [w for w in words if w.lower() in STATUS_CYCLE]
        rest = " ".join(w for w in words if w not in statuses)
        self.set_filters(statuses[-1].lower() if statuses else status, rest or None)

    def set_filters(self, status: str | None = None, workflow: str | None = None) -> None:
        self.status, self.workflow, self.page_start = status, workflow, 0
        if self.is_mounted:
            self.refresh_data(force=True)

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:  # a view out of sight costs nothing
            page = partial(
                self.services.queries.executions,
                status=self.status,
                search=self.workflow,
                offset=self.page_start,
                limit=PAGE,
                order=self.order,
            )
            self.load(partial(self.read, page, self._show), force=force)

    def _show(self, page: ExecutionPage) -> None:
        rows = page.rows
        self.total = page.total
        now, v = self.services.clock(), self.app.theme_variables
        self.query_one(tables.Table).show(
            [
                (
                    str(e.id),
                    [
                        str(e.id),
                        e.workflow_name,
                        format.execution_status(e, page.runners, now, v),
                        format.ago(e.started_at or e.queued_at, now),
                        format.duration(e.duration_ms),
                        format.runner(e, page.runners, now),
                        e.trigger,
                        format.one_line(e.error),
                    ],
                )
                for e in rows
            ]
        )
        filters = [f for f in (self.status, self.workflow and f"workflow ~ {self.workflow}") if f]
        where = f" ({', '.join(filters)})" if filters else ""
        self.query_one("#pager", Static).update(
            self.pager_text(
                len(rows), where + self.sort_text(), "[ ] pages, s status, / workflow, o sort"
            )
        )

    def copyable(self) -> tuple[str, str] | None:
        execution_id = self.selected()
        return None if execution_id is None else ("execution id", str(execution_id))

    def selected(self) -> int | None:
        key = tables.selected(self.query_one(DataTable))
        return int(key) if key else None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """``/failed`` filters by status; other words match a workflow, trigger or error."""
        self.show_filter(event.value, status=self.status)
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
        """Cancel the execution under the cursor, or every marked one (asked once)."""
        ids = [int(key) for key in self.marked()]
        if len(ids) > 1:
            self.post_message(CancelExecutions(ids))
            self.done_with_marks()
        elif ids:
            self.post_message(CancelExecution(ids[0]))

    def action_rerun(self) -> None:
        """Re-run the execution under the cursor, or every marked one (asked once)."""
        ids = [int(key) for key in self.marked()]
        if len(ids) > 1:
            self.post_message(RerunExecutions(ids))
            self.done_with_marks()
        elif ids:
            self.post_message(RerunExecution(ids[0]))
