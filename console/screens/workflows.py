"""Every workflow, paged and filterable; run, enable/disable and remove them here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from console import format
from console.screens import paged
from console.screens.base import View
from console.widgets import tables
from console.widgets.confirm_modal import ConfirmModal
from console.widgets.key_bar import KeyBar
from engine import store
from engine.errors import EngineError

if TYPE_CHECKING:
    from console.app import WorkflowConsole

PAGE = paged.PAGE


class WorkflowsScreen(paged.PagedList, View):
    AUTO_FOCUS = "#table"
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="workflows.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="workflows.clear", show=False),
        Binding("r", "run", "Run", id="workflows.run"),
        Binding("a", "toggle_active", "Enable/disable", id="workflows.toggle"),
        Binding("ctrl+d", "remove", "Remove", id="workflows.remove"),
        *paged.navigation("workflows"),
    ]

    app: WorkflowConsole

    def __init__(self) -> None:
        super().__init__()
        self.search: str | None = None
        self.page_start = 0
        self.total = 0

    def compose(self) -> ComposeResult:
        yield Static("Workflows", classes="title", id="heading")
        yield Input(placeholder="filter by name; Enter applies, Esc clears", id="filter")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", classes="hint", id="pager")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("name", "active", "version", "last run", "when", "success", "schedule"):
            table.add_column(key, key=key)
        self.refresh_data()
        self.every(1.0, self.refresh_data)

    def refresh_data(self) -> None:
        if not self.is_current:
            return  # a view out of sight costs nothing
        try:
            page, self.total = store.list_workflows(
                self.app.db, offset=self.page_start, limit=PAGE, search=self.search
            )
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        now, v = self.app.clock(), self.app.theme_variables
        tables.sync(
            self.query_one(DataTable),
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
                        self.app.schedule_text(s.workflow),
                    ],
                )
                for s in page
            ],
        )
        shown = (
            f"{self.page_start + 1}-{self.page_start + len(page)} of {self.total}"
            if page
            else "none"
        )
        where = f" matching {self.search!r}" if self.search else ""
        self.query_one("#pager", Static).update(f"{shown}{where}  ([ ] pages, / filter)")

    def selected(self) -> str | None:
        return tables.selected(self.query_one(DataTable))

    # -- actions -------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.search = event.value.strip() or None
        self.page_start = 0
        self.query_one(DataTable).focus()
        self.refresh_data()

    def action_clear_filter(self) -> None:
        self.hide_filter()
        self.search = None
        self.refresh_data()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.open_workflow(event.row_key.value)

    def action_run(self) -> None:
        name = self.selected()
        if name:
            self.app.ask_and_run(name)

    def action_toggle_active(self) -> None:
        name = self.selected()
        if not name:
            return
        try:
            row = store.get_workflow(self.app.db, name)
            store.set_active(self.app.db, name, not row.active)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"{name} {'disabled' if row.active else 'enabled'}")
        self.refresh_data()

    def action_remove(self) -> None:
        name = self.selected()
        if not name:
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                removed = store.remove_workflow(self.app.db, name)
            except EngineError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"Removed {name} and {removed} execution(s)")
            self.refresh_data()

        self.app.push_screen(
            ConfirmModal(f"Remove [b]{name}[/b] and all its executions?", yes="Remove"), answer
        )
