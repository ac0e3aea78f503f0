"""One execution: its steps and its live log.

The log is read from the store in batches (at most ten a second) into a bounded buffer;
it follows new lines (``f``), wraps (``w``), searches (``/``, ``n``/``N``) and can show only
the matching lines (``m``). Selecting a step narrows the log to it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, RichLog, Static

from console import format
from console.screens.base import View
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from engine import definition, store
from engine.errors import EngineError, NotFound

if TYPE_CHECKING:
    from console.app import WorkflowConsole

LOG_BUFFER = 5000
LOG_BATCH = 2000
LOG_INTERVAL = 0.1  # at most ten writes a second


class ExecutionDetailScreen(View):
    AUTO_FOCUS = "#steps"
    BINDINGS = [
        Binding("escape", "back", "Back / clear", id="execution.back"),
        Binding("f", "toggle_follow", "Follow", id="execution.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="execution.wrap"),
        Binding("slash", "search", "Search", id="execution.search"),
        Binding("n", "next_match(1)", "Next match", id="execution.next"),
        Binding("N", "next_match(-1)", "Prev match", id="execution.prev"),
        Binding("m", "toggle_matching", "Only matches", id="execution.matching"),
        Binding("c", "cancel", "Cancel", id="execution.cancel"),
        Binding("R", "rerun", "Re-run", id="execution.rerun"),
        Binding("tab", "app.focus_next", "Switch pane", id="execution.focus", show=False),
        Binding("j", "cursor(1)", "Down", id="execution.down", show=False),
        Binding("k", "cursor(-1)", "Up", id="execution.up", show=False),
        Binding("g", "edge(0)", "Top", id="execution.top", show=False),
        Binding("G", "edge(1)", "Bottom", id="execution.bottom", show=False),
    ]

    app: WorkflowConsole

    def __init__(self, execution_id: int) -> None:
        super().__init__()
        self.execution_id = execution_id
        self.buffer: deque[tuple[int, str | None, str, str]] = deque(maxlen=LOG_BUFFER)
        self.after_seq = 0
        self.step_filter: str | None = None
        self.pattern: str | None = None
        self.only_matching = False
        self.follow = True
        self.match_index = -1
        self.is_over = False
        self.step_order: list[str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Execution {self.execution_id}", classes="title", id="heading")
        yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="search the log; Enter finds, Esc clears", id="filter")
        yield RichLog(id="log", max_lines=LOG_BUFFER, wrap=False, auto_scroll=True, markup=False)
        yield Static("", classes="hint", id="log-state")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("step", "status", "attempt", "started", "duration", "exit", "error"):
            table.add_column(key, key=key)
        self.refresh_steps()
        self.pull_log()
        self.set_interval(0.5, self.refresh_steps)
        self.set_interval(LOG_INTERVAL, self.pull_log)
        self.show_state()

    # -- data --------------------------------------------------------------------------

    def refresh_steps(self) -> None:
        if not self.is_current or (self.is_over and self.query_one(DataTable).row_count):
            return  # out of sight, or finished and shown
        db = self.app.db
        try:
            e = store.get_execution(db, self.execution_id)
            runs = store.step_runs(db, self.execution_id, latest_only=True)
        except NotFound:
            self.notify(f"Execution {self.execution_id} no longer exists")
            self.app.pop_screen()
            return
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        v = self.app.theme_variables
        self.is_over = e.status in store.FINISHED
        heading = f"Execution {e.id}  {e.workflow_name} v{e.version}  "
        self.query_one("#heading", Static).update(
            Text(heading)
            + format.status(e.status, v)
            + Text(f"  {format.duration(e.duration_ms)}")
            + (Text(f"  {e.error}", style="bold") if e.error else Text(""))
        )
        rows = {r.step_id: r for r in runs}
        if self.step_order is None:
            # Steps that have not started yet come from the definition, read once.
            self.step_order = []
            try:
                wf = store.get_workflow(db, e.workflow_name)
                if wf.version == e.version:
                    self.step_order = [s.id for s in definition.parse(wf.definition, wf.name).steps]
            except EngineError:
                pass
        order = self.step_order or list(rows)
        now = self.app.clock()
        table_rows = []
        for step_id in order:
            r = rows.get(step_id)
            if r is None:
                table_rows.append(
                    (step_id, [step_id, format.status("pending", v), "", "", "", "", ""])
                )
                continue
            table_rows.append(
                (
                    step_id,
                    [
                        step_id,
                        format.status(r.status, v),
                        str(r.attempt),
                        format.ago(r.started_at, now),
                        format.duration(r.duration_ms),
                        "-" if r.exit_code is None else str(r.exit_code),
                        (r.error or "")[:60],
                    ],
                )
            )
        tables.sync(self.query_one(DataTable), table_rows)

    def pull_log(self) -> None:
        try:
            new = store.log_lines(
                self.app.db, self.execution_id, after_seq=self.after_seq, limit=LOG_BATCH
            )
        except EngineError:
            return
        if not new:
            return
        self.after_seq = new[-1].seq
        fresh = [(line.seq, line.step_id, line.stream, line.text) for line in new]
        self.buffer.extend(fresh)
        log = self.query_one(RichLog)
        for entry in fresh:
            if self.shows(entry):
                log.write(self.format_line(entry), scroll_end=self.follow)

    def shows(self, entry: tuple[int, str | None, str, str]) -> bool:
        if self.step_filter is not None and entry[1] != self.step_filter:
            return False
        if self.only_matching and self.pattern:
            return self.pattern.lower() in entry[3].lower()
        return True

    def format_line(self, entry: tuple[int, str | None, str, str]) -> Text:
        _, step_id, stream, text = entry
        v = self.app.theme_variables
        style = ""
        if stream == "stderr":
            style = format.rich_colour(v.get("error", "red"))
        elif stream == "system":
            style = "dim"
        line = Text(f"{(step_id or '-'):<12} ", style="dim") + Text(text, style=style)
        if self.pattern:
            line.highlight_words([self.pattern], style="reverse", case_sensitive=False)
        return line

    def redraw_log(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        for entry in self.buffer:
            if self.shows(entry):
                log.write(self.format_line(entry), scroll_end=self.follow)
        self.show_state()

    def show_state(self) -> None:
        parts = [
            "following" if self.follow else "paused (f follows)",
            "wrapped" if self.query_one(RichLog).wrap else "not wrapped",
        ]
        if self.step_filter:
            parts.append(f"step {self.step_filter}")
        if self.pattern:
            parts.append(
                f"search {self.pattern!r}" + (", matches only" if self.only_matching else "")
            )
        self.query_one("#log-state", Static).update(" · ".join(parts))

    def matches(self) -> list[int]:
        shown = [e for e in self.buffer if self.shows(e)]
        if not self.pattern:
            return []
        return [i for i, e in enumerate(shown) if self.pattern.lower() in e[3].lower()]

    # -- actions ------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        step = event.row_key.value
        self.step_filter = None if step == self.step_filter else step
        self.redraw_log()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("visible") or self.pattern or self.step_filter:
            box.value = ""
            box.remove_class("visible")
            self.pattern, self.step_filter, self.only_matching = None, None, False
            self.query_one(DataTable).focus()
            self.redraw_log()
            return
        self.app.pop_screen()

    def action_cursor(self, step: int) -> None:
        if isinstance(self.focused, RichLog):
            self.focused.scroll_relative(y=step, animate=False)
            return
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + step)

    def action_edge(self, end: int) -> None:
        if isinstance(self.focused, RichLog):
            (self.focused.scroll_end if end else self.focused.scroll_home)(animate=False)
            return
        table = self.query_one(DataTable)
        table.move_cursor(row=(table.row_count - 1) if end else 0)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        log = self.query_one(RichLog)
        log.auto_scroll = self.follow
        if self.follow:
            log.scroll_end(animate=False)
        self.show_state()

    def action_toggle_wrap(self) -> None:
        log = self.query_one(RichLog)
        log.wrap = not log.wrap
        self.redraw_log()

    def action_search(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.pattern = event.value.strip() or None
        self.match_index = -1
        self.query_one(RichLog).focus()
        self.redraw_log()
        self.action_next_match(1)

    def action_next_match(self, step: int) -> None:
        found = self.matches()
        if not found:
            if self.pattern:
                self.notify(f"No line matches {self.pattern!r}")
            return
        self.match_index = (self.match_index + step) % len(found)
        self.follow = False
        log = self.query_one(RichLog)
        log.auto_scroll = False
        log.scroll_to(y=found[self.match_index], animate=False)
        self.show_state()

    def action_toggle_matching(self) -> None:
        if not self.pattern:
            self.notify("Search first (/)")
            return
        self.only_matching = not self.only_matching
        self.redraw_log()

    def action_cancel(self) -> None:
        self.app.ask_and_cancel(self.execution_id)

    def action_rerun(self) -> None:
        self.app.rerun(self.execution_id)
