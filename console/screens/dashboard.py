"""The home screen: the numbers that matter, approvals waiting, recent executions, workflows.

Laid out for 80x24 first: the numbers fold into one line when the screen is short, the
steps/s chart takes one line while nothing runs, and the tables drop their least useful
columns (and cut long names with an ellipsis) rather than push the others off screen.
"""

from __future__ import annotations

from functools import partial

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Sparkline, Static

from console import format, keys
from console.messages import DecideApproval, OpenExecution, OpenWorkflow
from console.screens.base import View
from console.services import ACTIVITY_SECONDS, Dashboard, Services
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from console.widgets.stat_panel import StatPanel
from console.widgets.tables import Column
from console.widgets.title import Title
from engine import store

PANEL_REFRESH = 1.0
TALL = 36  # rows from which the numbers get panels of their own (one line below)

APPROVALS = (
    Column("execution", "exec"),
    Column("workflow", most=20, least=8),
    Column("step", most=16, least=6),
    Column("asked"),
    Column("params", priority=2, most=30, least=10),
    Column("prompt", most=400, least=16),
)
RECENT = (
    Column("id"),
    Column("workflow", most=28, least=8),
    Column("status", most=24, least=12),
    Column("started", priority=2),
    Column("duration", priority=2),
    Column("runner", priority=3, most=20),
)
WORKFLOWS = (
    Column("name", most=28, least=8),
    Column("active", priority=3),
    Column("last run", most=24, least=12),
    Column("when", priority=2),
    Column("success", priority=2),
    Column("last 10", priority=2),
    Column("durations", priority=3),
)


class DashboardScreen(View):
    AUTO_FOCUS = "#recent"
    BINDINGS = [
        Binding("A", "decide(True)", "Approve", id="dashboard.approve"),
        Binding("X", "decide(False)", "Reject", id="dashboard.reject"),
        Binding("i", "import_examples", "Import examples", id="dashboard.import"),
        Binding("C", "charts", "Charts", id="dashboard.charts"),
        Binding("enter", "open", "Open", id="dashboard.open", show=False),
        Binding("tab", "app.focus_next", "Next table", id="dashboard.next", show=False),
        *keys.cursor_keys("dashboard"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.data: Dashboard | None = None
        self._to_top = False

    def compose(self) -> ComposeResult:
        yield Title(self.services.context, "WorkflowEngine", classes="title")
        yield Static("", id="summary", markup=False)
        with Horizontal(id="panels"):
            yield StatPanel("workflows", id="p-workflows")
            yield StatPanel("run / queue", id="p-running")
            yield StatPanel("24h ok/fail", id="p-outcomes")
            yield StatPanel("success 24h", id="p-rate")
            yield StatPanel("avg time", id="p-duration")
        yield Static("", id="rate-label", classes="stat-label", markup=False)
        yield Sparkline([0.0] * ACTIVITY_SECONDS, summary_function=max, id="rate-chart")
        yield Static("", id="trend-label", classes="stat-label", markup=False)
        with Horizontal(id="trends"):
            for name in ("done", "queued", "running"):
                yield Sparkline([0.0], summary_function=max, id=f"trend-{name}")
        yield Static("", id="empty", classes="empty")
        yield Static(
            "Waiting for approval (A approves, X rejects)", classes="hint", id="approvals-title"
        )
        yield tables.Table(APPROVALS, id="approvals")
        yield Static("", id="approval-prompt", markup=False)
        yield Static("Recent executions", classes="hint")
        yield tables.Table(RECENT, id="recent")
        yield Static("Workflows", classes="hint")
        yield tables.Table(WORKFLOWS, id="workflows")
        yield KeyBar()

    def on_mount(self) -> None:
        self._fold(self.app.size.height)
        self.refresh_data()
        # Every second, in sight or not: coming back, the view is at most a second old
        # (and is read again at once, see View.on_screen_resume).
        self.every(PANEL_REFRESH, self.refresh_data)

    def on_resize(self, event: events.Resize) -> None:
        self._fold(event.size.height)
        if self.data is not None:
            self._show(self.data)

    def _fold(self, height: int) -> None:
        """Panels when there is room for them, else the same numbers on one line."""
        tall = height >= TALL
        self.query_one("#panels").display = tall
        self.query_one("#summary").display = not tall

    def refresh_data(self, *, force: bool = False) -> None:
        self.load(partial(self.read, self.services.queries.dashboard, self._show), force=force)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # View.on_screen_resume (Textual calls it too, after this) reads again.
        if self.data is not None:  # at most a second old, its times as of now
            self._show(self.data)

    def _show(self, data: Dashboard) -> None:
        self.data = data
        if not self.is_current:  # kept for the return; drawn then (no restyling while hidden)
            return
        s = data.stats
        now = self.services.clock()
        v = self.app.theme_variables
        self.query_one("#p-workflows", StatPanel).show(f"{s.workflows} ({s.active_workflows} on)")
        self.query_one("#p-running", StatPanel).show(f"{s.running} / {s.queued}")
        self.query_one("#p-outcomes", StatPanel).show(
            f"{s.succeeded} / {s.failed}", bad=s.failed > 0
        )
        self.query_one("#p-rate", StatPanel).show(format.percent(s.success_rate))
        self.query_one("#p-duration", StatPanel).show(format.duration(s.average_duration_ms))
        self.query_one("#summary", Static).update(format.summary(s, v))
        self._chart(data.activity)
        self._trends(data.trends)
        empty = self.query_one("#empty", Static)
        if s.workflows == 0:
            empty.update("No workflows yet. Press [b]i[/b] to import the bundled examples.")
            empty.display = True
        else:
            empty.display = False
        approvals = self.query_one("#approvals", tables.Table)
        approvals.show(
            [
                (
                    f"{a.execution_id}/{a.step_id}",
                    [
                        str(a.execution_id),
                        a.workflow_name,
                        a.step_id,
                        format.ago(a.requested_at, now),
                        format.params(data.params.get(a.execution_id, {})),
                        format.one_line(a.prompt),
                    ],
                )
                for a in data.approvals
            ]
        )
        approvals.display = bool(data.approvals)
        self.query_one("#approvals-title", Static).display = bool(data.approvals)
        self._show_prompt()
        self.query_one("#recent", tables.Table).show(
            [
                (
                    str(e.id),
                    [
                        str(e.id),
                        e.workflow_name,
                        format.execution_status(e, data.runners, now, v),
                        format.ago(e.started_at or e.queued_at, now),
                        format.duration(e.duration_ms),
                        format.runner(e, data.runners, now),
                    ],
                )
                for e in data.recent
            ]
        )
        self.query_one("#workflows", tables.Table).show(
            [
                (
                    w.workflow.name,
                    [
                        w.workflow.name,
                        "yes" if w.workflow.active else "no",
                        format.status(w.last_status, v),
                        format.ago(w.last_run_at, now),
                        format.percent(w.success_rate),
                        format.runs_strip(data.last_runs.get(w.workflow.id or 0), v),
                        format.durations_strip(data.last_runs.get(w.workflow.id or 0)),
                    ],
                )
                for w in data.workflows
            ]
        )
        if self._to_top:
            self._to_top = False
            self._edge(0)
        self.refresh_bindings()  # `i` is offered only while the store has no workflows

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "approvals":
            self._show_prompt()

    def _show_prompt(self) -> None:
        """The whole prompt of the approval under the cursor, wrapped: the table cuts it."""
        box = self.query_one("#approval-prompt", Static)
        key = tables.selected_key(self.query_one("#approvals", DataTable))
        found = [
            a
            for a in (self.data.approvals if self.data else [])
            if f"{a.execution_id}/{a.step_id}" == key
        ]
        box.display = bool(found)
        if found:
            box.update(f"{found[0].execution_id}/{found[0].step_id}: {found[0].prompt}")

    def _chart(self, activity: list[int]) -> None:
        """Steps/s of every runner: a line of numbers, and bars only when there is a bar."""
        label = self.query_one("#rate-label", Static)
        chart = self.query_one("#rate-chart", Sparkline)
        peak = max(activity, default=0)
        if peak == 0:
            label.update(f"steps/s, all runners: none in the last {ACTIVITY_SECONDS}s")
            chart.display = False
            return
        label.update(
            f"steps/s, all runners, last {ACTIVITY_SECONDS}s:"
            f" now {activity[-1]:,}, peak {peak:,} (bar height = peak)"
        )
        chart.display = True
        chart.styles.height = 2 if self.app.size.height >= TALL else 1
        chart.data = [float(n) for n in activity]

    def _trends(self, charts: store.Charts) -> None:
        """The last hour, every runner: a line of numbers; sparklines too when tall."""
        done = [
            a + b + c
            for a, b, c in zip(charts.succeeded, charts.failed, charts.cancelled, strict=True)
        ]
        line = (
            f"last hour: done ✓{sum(charts.succeeded):,} ✗{sum(charts.failed):,}"
            f" ⊘{sum(charts.cancelled):,} (peak {max(done, default=0):,}/min)"
            f" · queued {charts.queued[-1]:,} (peak {max(charts.queued, default=0):,})"
            f" · running {charts.running[-1]:,} (peak {max(charts.running, default=0):,})"
            " · C charts"
        )
        self.query_one("#trend-label", Static).update(line)
        tall = self.app.size.height >= TALL and any(done + charts.queued + charts.running)
        self.query_one("#trends").display = tall
        if tall:
            for name, values in (
                ("done", done), ("queued", charts.queued), ("running", charts.running)
            ):  # fmt: skip
                self.query_one(f"#trend-{name}", Sparkline).data = [float(v) for v in values]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "import_examples":
            return self.data is None or self.data.stats.workflows == 0
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "recent":
            self.post_message(OpenExecution(int(key)))
        elif event.data_table.id == "workflows":
            self.post_message(OpenWorkflow(key))
        elif event.data_table.id == "approvals":
            self.post_message(OpenExecution(int(key.split("/", 1)[0])))

    def copyable(self) -> tuple[str, str] | None:
        table = self._table()
        key = tables.selected_key(table)
        if key is None:
            return None
        if table.id == "workflows":
            return "workflow name", key
        return "execution id", key.split("/", 1)[0]

    def _table(self) -> DataTable[object]:
        """The table the keys act on: the focused one, else recent executions."""
        focused = self.focused
        if isinstance(focused, DataTable):
            return focused
        return self.query_one("#recent", DataTable)

    def action_open(self) -> None:
        table = self._table()
        if table.row_count:
            table.action_select_cursor()

    def action_cursor(self, step: int) -> None:
        table = self._table()
        table.move_cursor(row=table.cursor_row + step)

    def action_edge(self, end: int) -> None:
        """``G`` the last row; ``g`` the newest row as of now: read first, then go there."""
        if end:
            self._edge(1)
            return
        self._edge(0)
        self._to_top = True
        self.refresh_data(force=True)

    def _edge(self, end: int) -> None:
        table = self._table()
        table.move_cursor(row=(table.row_count - 1) if end else 0, animate=False)

    def action_decide(self, approve: bool) -> None:
        key = tables.selected(self.query_one("#approvals", DataTable))
        if key is None:
            self.notify("Nothing waits for approval")
            return
        execution_id, step_id = key.split("/", 1)
        self.post_message(DecideApproval(int(execution_id), step_id, approve))

    def action_charts(self) -> None:
        from console.screens.charts import ChartsScreen

        self.app.push_screen(ChartsScreen(self.services))

    def action_import_examples(self) -> None:
        if self.refused("import"):
            return

        def imported(added: list[str]) -> None:
            self.notify(
                f"Imported {len(added)} example workflow(s)"
                if added
                else "The examples are already here"
            )
            self.refresh_data(force=True)

        self.load(
            partial(self.read, self.services.queries.import_examples, imported),
            group="import",
            force=True,
        )
