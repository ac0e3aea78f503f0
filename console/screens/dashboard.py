"""The home screen: the numbers that matter, approvals waiting, recent executions, workflows."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static

from console import format
from console.messages import DecideApproval, OpenExecution, OpenWorkflow
from console.screens.base import View
from console.services import Dashboard, Services
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from console.widgets.stat_panel import StatPanel

PANEL_REFRESH = 1.0


class DashboardScreen(View):
    AUTO_FOCUS = "#recent"
    BINDINGS = [
        Binding("i", "import_examples", "Import examples", id="dashboard.import"),
        Binding("enter", "open", "Open", id="dashboard.open", show=False),
        Binding("tab", "app.focus_next", "Next table", id="dashboard.next", show=False),
        Binding("A", "decide(True)", "Approve", id="dashboard.approve"),
        Binding("X", "decide(False)", "Reject", id="dashboard.reject"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.rates: deque[float] = deque([0.0] * 60, maxlen=60)

    def compose(self) -> ComposeResult:
        yield Static("WorkflowEngine", classes="title")
        with Horizontal(id="panels"):
            yield StatPanel("workflows", id="p-workflows")
            yield StatPanel("run / queue", id="p-running")
            yield StatPanel("24h ok/fail", id="p-outcomes")
            yield StatPanel("success 24h", id="p-rate")
            yield StatPanel("avg time", id="p-duration")
        with Vertical(id="rate"):
            yield Static("steps/s", classes="stat-label", id="rate-label")
            yield Sparkline(list(self.rates), summary_function=max)
        yield Static("", id="empty", classes="empty")
        yield Static(
            "Waiting for approval (A approves, X rejects)", classes="hint", id="approvals-title"
        )
        yield tables.Table(id="approvals", cursor_type="row", zebra_stripes=True)
        yield Static("Recent executions", classes="hint")
        yield tables.Table(id="recent", cursor_type="row", zebra_stripes=True)
        yield Static("Workflows", classes="hint")
        yield tables.Table(id="workflows", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        recent = self.query_one("#recent", DataTable)
        for key in ("id", "workflow", "status", "started", "duration"):
            recent.add_column(key, key=key)
        approvals = self.query_one("#approvals", DataTable)
        for key in ("execution", "workflow", "step", "asked", "prompt"):
            approvals.add_column(key, key=key)
        wfs = self.query_one("#workflows", DataTable)
        for key in ("name", "active", "last run", "when", "success"):
            wfs.add_column(key, key=key)
        self.refresh_data()
        self.every(PANEL_REFRESH, self.tick)

    def tick(self) -> None:
        stats = self.services.executor_statistics()
        self.rates.append(stats.steps_per_second if stats else 0.0)
        if not self.is_current:
            return
        self.query_one(Sparkline).data = list(self.rates)
        self.query_one("#rate-label", Static).update(
            f"steps/s (last minute; now {self.rates[-1]:,.0f})"
        )
        self.refresh_data()

    def refresh_data(self, *, force: bool = False) -> None:
        self.load(self.read(self.services.queries.dashboard, self._show), force=force)

    def _show(self, data: Dashboard) -> None:
        s = data.stats
        now = self.services.clock()
        self.query_one("#p-workflows", StatPanel).show(
            f"{s.workflows} ({s.active_workflows} active)"
        )
        self.query_one("#p-running", StatPanel).show(f"{s.running} / {s.queued}")
        self.query_one("#p-outcomes", StatPanel).show(
            f"{s.succeeded} / {s.failed}", bad=s.failed > 0
        )
        self.query_one("#p-rate", StatPanel).show(format.percent(s.success_rate))
        self.query_one("#p-duration", StatPanel).show(format.duration(s.average_duration_ms))
        empty = self.query_one("#empty", Static)
        if s.workflows == 0:
            empty.update("No workflows yet. Press [b]i[/b] to import the bundled examples.")
            empty.display = True
        else:
            empty.display = False
        v = self.app.theme_variables
        approvals = self.query_one("#approvals", DataTable)
        tables.sync(
            approvals,
            [
                (
                    f"{a.execution_id}/{a.step_id}",
                    [
                        str(a.execution_id),
                        a.workflow_name,
                        a.step_id,
                        format.ago(a.requested_at, now),
                        a.prompt[:50],
                    ],
                )
                for a in data.approvals
            ],
        )
        approvals.display = bool(data.approvals)
        self.query_one("#approvals-title", Static).display = bool(data.approvals)
        tables.sync(
            self.query_one("#recent", DataTable),
            [
                (
                    str(e.id),
                    [
                        str(e.id),
                        e.workflow_name,
                        format.status(e.status, v),
                        format.ago(e.started_at or e.queued_at, now),
                        format.duration(e.duration_ms),
                    ],
                )
                for e in data.recent
            ],
        )
        tables.sync(
            self.query_one("#workflows", DataTable),
            [
                (
                    w.workflow.name,
                    [
                        w.workflow.name,
                        "yes" if w.workflow.active else "no",
                        format.status(w.last_status, v),
                        format.ago(w.last_run_at, now),
                        format.percent(w.success_rate),
                    ],
                )
                for w in data.workflows
            ],
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "recent":
            self.post_message(OpenExecution(int(key)))
        elif event.data_table.id == "workflows":
            self.post_message(OpenWorkflow(key))

    def action_open(self) -> None:
        table = self.focused
        if isinstance(table, DataTable) and table.row_count:
            table.action_select_cursor()

    def action_decide(self, approve: bool) -> None:
        key = tables.selected(self.query_one("#approvals", DataTable))
        if key is None:
            self.notify("Nothing waits for approval")
            return
        execution_id, step_id = key.split("/", 1)
        self.post_message(DecideApproval(int(execution_id), step_id, approve))

    def action_import_examples(self) -> None:
        def imported(added: list[str]) -> None:
            self.notify(
                f"Imported {len(added)} example workflow(s)"
                if added
                else "The examples are already here"
            )
            self.refresh_data(force=True)

        self.load(
            self.read(self.services.queries.import_examples, imported), group="import", force=True
        )
