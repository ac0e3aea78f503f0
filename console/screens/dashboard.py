"""The home screen: the numbers that matter, recent executions and workflows."""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static

from console import format
from console.screens.base import View
from console.widgets import tables
from console.widgets.confirm_modal import ConfirmModal
from console.widgets.key_bar import KeyBar
from console.widgets.stat_panel import StatPanel
from engine import definition, store
from engine.errors import EngineError

if TYPE_CHECKING:
    from console.app import WorkflowConsole

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

    app: WorkflowConsole

    def __init__(self) -> None:
        super().__init__()
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
        yield DataTable(id="approvals", cursor_type="row", zebra_stripes=True)
        yield Static("Recent executions", classes="hint")
        yield DataTable(id="recent", cursor_type="row", zebra_stripes=True)
        yield Static("Workflows", classes="hint")
        yield DataTable(id="workflows", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        recent = self.query_one("#recent", DataTable)
        recent.add_column("id", key="id")
        recent.add_column("workflow", key="workflow")
        recent.add_column("status", key="status")
        recent.add_column("started", key="started")
        recent.add_column("duration", key="duration")
        approvals = self.query_one("#approvals", DataTable)
        for key in ("execution", "workflow", "step", "asked", "prompt"):
            approvals.add_column(key, key=key)
        wfs = self.query_one("#workflows", DataTable)
        for key in ("name", "active", "last run", "when", "success"):
            wfs.add_column(key, key=key)
        self.refresh_data()
        self.every(PANEL_REFRESH, self.tick)

    def tick(self) -> None:
        stats = self.app.host.statistics()
        self.rates.append(stats.steps_per_second if stats else 0.0)
        if not self.is_current:
            return
        self.query_one(Sparkline).data = list(self.rates)
        self.query_one("#rate-label", Static).update(
            f"steps/s (last minute; now {self.rates[-1]:,.0f})"
        )
        self.refresh_data()

    def refresh_data(self) -> None:
        db = self.app.db
        try:
            s = store.stats(db, since=self.app.clock() - timedelta(hours=24))
            recent = store.recent_executions(db, limit=10)
            workflows, _ = store.list_workflows(db, limit=10)
            waiting = store.pending_approvals(db, limit=10)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        now = self.app.clock()
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
                for a in waiting
            ],
        )
        approvals.display = bool(waiting)
        self.query_one("#approvals-title", Static).display = bool(waiting)
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
                for e in recent
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
                for w in workflows
            ],
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "recent":
            self.app.open_execution(int(key))
        else:
            self.app.open_workflow(key)

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
        verb = "Approve" if approve else "Reject"

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                store.decide(
                    self.app.db,
                    int(execution_id),
                    step_id,
                    approve=approve,
                    reason=None,
                    by="console",
                )
            except EngineError as exc:
                self.notify(str(exc), severity="warning")
                return
            self.notify(f"{verb}d execution {execution_id} step {step_id}")
            self.refresh_data()

        self.app.push_screen(
            ConfirmModal(f"{verb} execution {execution_id}, step [b]{step_id}[/b]?", yes=verb),
            answer,
        )

    def action_import_examples(self) -> None:
        folder = resources.files("examples")
        items: list[tuple[definition.Workflow, Any]] = []
        try:
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if entry.name.endswith((".yaml", ".yml")):
                    items.append((definition.parse(entry.read_text(), entry.name), None))
            saved = store.save_workflows(self.app.db, items)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        added = [s.workflow.name for s in saved if s.change != "unchanged"]
        self.notify(
            f"Imported {len(added)} example workflow(s)"
            if added
            else "The examples are already here"
        )
        self.refresh_data()
