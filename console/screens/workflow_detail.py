"""One workflow: its definition, syntax-highlighted, and its recent executions."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from console import format
from console.messages import OpenExecution, RunWorkflow
from console.screens.base import View
from console.screens.graph import kinds, layout_of
from console.services import Services, WorkflowDetail
from console.widgets import tables
from console.widgets.graph import GraphView
from console.widgets.key_bar import KeyBar
from console.widgets.tables import Column
from console.widgets.title import Title
from engine.errors import EngineError, NotFound

if TYPE_CHECKING:
    from engine import store

COLUMNS = (
    Column("id"),
    Column("status", most=24, least=12),
    Column("trigger", priority=3),
    Column("started", priority=2),
    Column("duration", priority=2),
    Column("error", priority=2, most=80, least=10),
)


class WorkflowDetailScreen(View):
    AUTO_FOCUS = "#runs"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="workflow.back"),
        Binding("r", "run", "Run", id="workflow.run"),
        Binding("a", "toggle_active", "Enable/disable", id="workflow.toggle"),
        Binding("D", "toggle_graph", "Graph/YAML", id="workflow.graph"),
        Binding("tab", "app.focus_next", "Switch pane", id="workflow.focus", show=False),
    ]

    def __init__(self, services: Services, name: str) -> None:
        super().__init__(services)
        self.workflow_name = name
        self.definition_text = ""
        self.row: store.Workflow | None = None
        self.graph_for = ""  # the definition the graph was laid out from

    def compose(self) -> ComposeResult:
        yield Title(self.services.context, Text(self.workflow_name), classes="title", id="heading")
        with VerticalScroll(id="definition"):
            yield Static(id="source")
        yield GraphView(id="wf-graph")
        yield Static("Recent executions", classes="hint")
        yield tables.Table(COLUMNS, id="runs")
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_data()
        self.every(1.0, self.refresh_data)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.show_source())

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:  # a view out of sight costs nothing
            self.load(self._read, force=force)

    async def _read(self) -> None:
        try:
            detail = await self.services.queries.workflow(self.workflow_name)
        except NotFound:
            if self.is_current:
                self.notify(
                    f"Workflow {self.workflow_name} was removed"
                    if self.definition_text
                    else f"There is no workflow {self.workflow_name!r}"
                )
                self.dismiss()
            return
        except EngineError as exc:
            self.failed(exc)
            return
        if self.is_attached:
            self._show(detail)

    def _show(self, detail: WorkflowDetail) -> None:
        row = detail.workflow
        state = "active" if row.active else "disabled"
        self.query_one("#heading", Static).update(
            Text(
                f"{row.name}  v{row.version}, {state}, {detail.total} execution(s)"
                + (f"  — {format.one_line(row.description)}" if row.description else "")
            )
        )
        self.row = row
        if row.definition != self.definition_text:
            self.definition_text = row.definition
            self.show_source()
            if self.query_one(GraphView).display:
                self.load(self._read_graph, group="graph", force=True)
        now, v = self.services.clock(), self.app.theme_variables
        self.query_one(tables.Table).show(
            [
                (
                    str(e.id),
                    [
                        str(e.id),
                        format.status(e.status, v),
                        e.trigger,
                        format.ago(e.started_at or e.queued_at, now),
                        format.duration(e.duration_ms),
                        format.one_line(e.error),
                    ],
                )
                for e in detail.runs
            ]
        )

    def show_source(self) -> None:
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

    def action_toggle_graph(self) -> None:
        """The definition as its YAML or as a graph of its steps (laid out on a thread)."""
        view, source = self.query_one(GraphView), self.query_one("#definition")
        view.display, source.display = source.display, view.display
        if view.display:
            view.focus()
            if self.graph_for != self.definition_text:
                self.load(self._read_graph, group="graph", force=True)

    async def _read_graph(self) -> None:
        row = self.row
        if row is None:
            return
        try:
            workflow = await self.services.queries.parsed(row)
        except EngineError as exc:
            self.failed(exc)
            return
        needs = workflow.dependencies()
        layout = await layout_of(workflow, needs)
        if self.is_attached:
            self.graph_for = row.definition
            self.query_one(GraphView).show(needs, layout, kinds(workflow))

    def copyable(self) -> tuple[str, str] | None:
        key = tables.selected_key(self.query_one(DataTable))
        if key is not None and self.query_one(DataTable).has_focus:
            return "execution id", key
        return "workflow name", self.workflow_name

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(OpenExecution(int(event.row_key.value)))

    def action_back(self) -> None:
        self.dismiss()

    def action_run(self) -> None:
        self.post_message(RunWorkflow(self.workflow_name))

    def action_toggle_active(self) -> None:
        if self.refused("enable/disable"):
            return
        toggled = partial(self.services.queries.toggle_active, self.workflow_name)
        refresh = partial(self.refresh_data, force=True)
        self.load(partial(self.read, toggled, lambda _row: refresh()), group="write", force=True)
