"""Every workflow, paged and filterable; run, enable/disable and remove them here."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from console import format
from console.messages import OpenWorkflow, RunWorkflow
from console.modals.confirm import ConfirmModal
from console.screens import paged
from console.services import Services, WorkflowPage
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from console.widgets.tables import Column
from console.widgets.title import Title

if TYPE_CHECKING:
    from engine import store

PAGE = paged.PAGE
COLUMNS = (
    Column("name", most=32, least=8),
    Column("active", priority=3),
    Column("version", "ver", priority=4),
    Column("last run", most=24, least=12),
    Column("when", priority=2),
    Column("success", priority=2),
    Column("last 10", priority=2),
    Column("durations", priority=3),
    Column("schedule", priority=3, most=40, least=10),
)


class WorkflowsScreen(paged.PagedList):
    AUTO_FOCUS = "#table"
    VIEW = "workflows"
    SORTS = ("name", "active", "version")
    BINDINGS = [
        Binding("r", "run", "Run", id="workflows.run"),
        Binding("a", "toggle_active", "Enable/disable", id="workflows.toggle"),
        Binding("ctrl+d", "remove", "Remove", id="workflows.remove"),
        Binding("slash", "filter", "Filter", id="workflows.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="workflows.clear", show=False),
        *paged.navigation("workflows"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.search: str | None = None
        self.page_rows: dict[str, store.Workflow] = {}  # the page shown, by name

    def compose(self) -> ComposeResult:
        yield Title(self.services.context, "Workflows", classes="title", id="heading")
        yield Input(placeholder="filter by name; Enter applies, Esc clears", id="filter")
        yield tables.Table(COLUMNS, id="table")
        yield Static("", classes="hint", id="pager", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_data()
        self.every(1.0, self.refresh_data)

    def show_filter(self, argument: str | None) -> None:
        self.search = argument
        self.page_start = 0
        self.refresh_data(force=True)

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:  # a view out of sight costs nothing
            page = partial(
                self.services.queries.workflows,
                offset=self.page_start,
                limit=PAGE,
                search=self.search,
                order=self.order,
            )
            self.load(partial(self.read, page, self._show), force=force)

    def _show(self, page: WorkflowPage) -> None:
        self.total = page.total
        self.page_rows = {s.workflow.name: s.workflow for s, _ in page.rows}
        now, v = self.services.clock(), self.app.theme_variables
        self.query_one(tables.Table).show(
            [
                (
                    s.workflow.name,
                    [
                        s.workflow.name,
                        "yes" if s.workflow.active else "no",
                        str(s.workflow.version),
                        format.status(s.last_status, v),
                        format.ago(s.last_run_at, now),
                        format.percent(s.success_rate),
                        format.runs_strip(page.last_runs.get(s.workflow.id or 0), v),
                        format.durations_strip(page.last_runs.get(s.workflow.id or 0)),
                        schedule,
                    ],
                )
                for s, schedule in page.rows
            ]
        )
        where = f" matching {self.search!r}" if self.search else ""
        self.query_one("#pager", Static).update(
            self.pager_text(len(page.rows), where + self.sort_text(), "[ ] pages, / filter, o sort")
        )

    def copyable(self) -> tuple[str, str] | None:
        name = self.selected()
        return None if name is None else ("workflow name", name)

    def selected(self) -> str | None:
        return tables.selected(self.query_one(DataTable))

    # -- actions -------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()
        self.show_filter(event.value.strip() or None)

    def action_clear_filter(self) -> None:
        self.hide_filter()
        self.show_filter(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(OpenWorkflow(event.row_key.value))

    def action_run(self) -> None:
        name = self.selected()
        if name:
            self.post_message(RunWorkflow(name))

    def action_toggle_active(self) -> None:
        if self.refused("enable/disable"):
            return
        names = self.marked()
        if len(names) > 1:
            self._set_active_many(names)
            return
        name = self.selected()
        if name:
            toggled = partial(self.services.queries.toggle_active, name)
            self.load(partial(self.read, toggled, self._toggled), group="write", force=True)

    def _toggled(self, row: store.Workflow) -> None:
        self.notify(f"{row.name} {'enabled' if row.active else 'disabled'}")
        self.refresh_data(force=True)

    def _set_active_many(self, names: list[str]) -> None:
        """Marked workflows: disable them all if any is enabled, else enable them all."""
        page = self.page_rows
        active = not any(page[n].active for n in names if n in page)
        verb = "Enable" if active else "Disable"

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            write = partial(self.services.queries.set_active, names, active)

            def done(_: None) -> None:
                self.notify(f"{verb}d {len(names)} workflows: {', '.join(names)}")
                self.done_with_marks()
                self.refresh_data(force=True)

            self.load(partial(self.read, write, done), group="write", force=True)

        question = f"{verb} {len(names)} workflows: {', '.join(names)}?"
        self.app.push_screen(ConfirmModal(question, yes=verb, variant="primary"), answer)

    def _remove_many(self, names: list[str]) -> None:
        def answer(yes: bool | None) -> None:
            if not yes:
                return
            removal = partial(self.services.queries.remove_workflows, names)

            def removed(count: int) -> None:
                self.notify(f"Removed {len(names)} workflows and {count} execution(s)")
                self.done_with_marks()
                self.refresh_data(force=True)

            self.load(partial(self.read, removal, removed), group="write", force=True)

        question = f"Remove {len(names)} workflows and all their executions: {', '.join(names)}?"
        self.app.push_screen(ConfirmModal(question, yes="Remove them"), answer)

    def action_remove(self) -> None:
        if self.refused("remove"):
            return
        names = self.marked()
        if len(names) > 1:
            self._remove_many(names)
            return
        name = self.selected()
        if not name:
            return

        def removed(count: int) -> None:
            self.notify(f"Removed {name} and {count} execution(s)")
            self.refresh_data(force=True)

        def answer(yes: bool | None) -> None:
            if yes:
                removal = partial(self.services.queries.remove_workflow, name)
                self.load(partial(self.read, removal, removed), group="write", force=True)

        self.app.push_screen(
            ConfirmModal(f"Remove [b]{name}[/b] and all its executions?", yes="Remove"), answer
        )
