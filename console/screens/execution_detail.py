"""One execution: its steps and its live log.

The steps show a page at a time (``[``/``]``; while following, the page of the step that
runs), read from the store a page at a time, so a 10,000-step execution opens as fast as
a small one. The log is read in batches (at most ten a second) into a bounded buffer of
its last lines; it follows new lines (``f``), wraps (``w``), searches (``/``, ``n``/``N``)
and can show only the matching lines (``m``). Selecting a step narrows the log to it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, RichLog, Static

from console import format
from console.messages import CancelExecution, RerunExecution
from console.screens.base import View
from console.services import Services
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from engine import status
from engine.errors import EngineError, NotFound

if TYPE_CHECKING:
    from engine import store

LOG_BUFFER = 5000
LOG_OPEN = 1000  # lines shown on opening: the last ones (about 50 ms to draw)
LOG_BATCH = 200  # lines written per tick, 2,000 a second; a log faster than that skips ahead
LOG_INTERVAL = 0.1  # at most ten writes a second
STEP_PAGE = 100
TALLY_EVERY = 2.0  # seconds between counts of all the steps by status
SKIPPED = "skipped"  # the stream of the line that says lines are not shown


class ExecutionDetailScreen(View):
    AUTO_FOCUS = "#steps"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back / clear", id="execution.back"),
        Binding("f", "toggle_follow", "Follow", id="execution.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="execution.wrap"),
        Binding("slash", "search", "Search", id="execution.search"),
        Binding("n", "next_match(1)", "Next match", id="execution.next"),
        Binding("N", "next_match(-1)", "Prev match", id="execution.prev"),
        Binding("m", "toggle_matching", "Only matches", id="execution.matching"),
        Binding("c", "cancel", "Cancel", id="execution.cancel"),
        Binding("R", "rerun", "Re-run", id="execution.rerun"),
        Binding("right_square_bracket", "page(1)", "Next steps", id="execution.next_page"),
        Binding("left_square_bracket", "page(-1)", "Prev steps", id="execution.prev_page"),
        Binding("tab", "app.focus_next", "Switch pane", id="execution.focus", show=False),
        Binding("j", "cursor(1)", "Down", id="execution.down", show=False),
        Binding("k", "cursor(-1)", "Up", id="execution.up", show=False),
        Binding("g", "edge(0)", "Top", id="execution.top", show=False),
        Binding("G", "edge(1)", "Bottom", id="execution.bottom", show=False),
    ]

    def __init__(self, services: Services, execution_id: int) -> None:
        super().__init__(services)
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
        self.steps_start = 0
        self.steps_shown = False
        self.counts: dict[str, int] = {}
        self.tallied = -math.inf
        self.earliest_seq = 0  # the first log line held; earlier ones load on `g`
        self.reading_back = False  # earlier lines shown: new ones wait until `f`

    def compose(self) -> ComposeResult:
        yield Static(f"Execution {self.execution_id}", classes="title", id="heading")
        yield tables.Table(id="steps", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="search the log; Enter finds, Esc clears", id="filter")
        yield RichLog(id="log", max_lines=LOG_BUFFER, wrap=False, auto_scroll=True, markup=False)
        yield Static("", classes="hint", id="log-state")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("step", "status", "attempt", "started", "duration", "exit", "error"):
            table.add_column(key, key=key)
        self.refresh_steps()
        self.load(self._read_step_order(), group="step-order")
        # The steps show first; the log's last lines (tens of ms to lay out) and the
        # tally a frame later.
        self.call_after_refresh(self.pull_log)
        self.call_after_refresh(self.refresh_steps, force=True)
        self.every(0.5, self.refresh_steps)
        self.every(LOG_INTERVAL, self.pull_log)
        self.show_state()

    # -- data --------------------------------------------------------------------------

    def refresh_data(self, *, force: bool = False) -> None:
        self.refresh_steps(force=force)

    def refresh_steps(self, *, force: bool = False) -> None:
        if not self.is_current or (self.is_over and self.steps_shown and not force):
            return  # out of sight, or finished and shown
        self.load(self._read_steps(force), group="steps", force=force)

    async def _read_steps(self, force: bool) -> None:
        queries = self.services.queries
        try:
            view = await queries.execution_view(
                self.execution_id, start=self.steps_start, limit=STEP_PAGE, tally=self._tally()
            )
            first_active = view.window.first_active
            if self.follow and first_active is not None and not force:
                page_start = first_active // STEP_PAGE * STEP_PAGE
                if page_start != self.steps_start:
                    self.steps_start = page_start
                    view = await queries.execution_view(
                        self.execution_id, start=page_start, limit=STEP_PAGE, tally=False
                    )
        except NotFound:
            if self.is_current:
                self.notify(f"Execution {self.execution_id} no longer exists")
                self.dismiss()
            return
        except EngineError as exc:
            self.failed(exc)
            return
        if self.is_attached:
            self._show_steps(view.execution, view.window)

    def _show_steps(self, e: store.Execution, window: store.StepWindow) -> None:
        v = self.app.theme_variables
        self.is_over = e.status in status.FINISHED
        heading = f"Execution {e.id}  {e.workflow_name} v{e.version}  "
        if window.counts:
            self.counts = window.counts
        total = len(self.step_order or ()) or sum(self.counts.values())
        tally = ", ".join(
            f"{n:,} {name.replace('_', ' ')}" for name, n in sorted(self.counts.items())
        )
        where = ""
        if total > STEP_PAGE:
            end = min(total, self.steps_start + STEP_PAGE)
            where = f"  steps {self.steps_start + 1:,}-{end:,} of {total:,} ([ ])"
        self.query_one("#heading", Static).update(
            Text(heading)
            + format.status(e.status, v)
            + Text(f"  {format.duration(e.duration_ms)}")
            + (Text(f"  {e.error}", style="bold") if e.error else Text(""))
            + Text(f"{where}  {tally}", style="dim")
        )
        rows = {r.step_id: r for r in window.runs}
        if self.step_order:
            order = self.step_order[self.steps_start : self.steps_start + STEP_PAGE]
        else:  # not read yet, or the workflow changed since: what was recorded
            order = list(rows)
        now = self.services.clock()
        table_rows = []
        for step_id in order:
            r = rows.get(step_id)
            if r is None:
                table_rows.append(
                    (
                        step_id,
                        [step_id, format.status(status.StepStatus.PENDING, v), "", "", "", "", ""],
                    )
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
        self.steps_shown = True

    def _tally(self) -> bool:
        # The tally counts every step (some 30 ms for 10,000, on a worker thread): until
        # one is shown, then at most every TALLY_EVERY seconds. (A read can be replaced
        # by a newer one before it shows what it counted.)
        now = time.monotonic()
        tally = not self.counts or now - self.tallied >= TALLY_EVERY
        if tally:
            self.tallied = now
        return tally

    async def _read_step_order(self) -> None:
        try:
            order = await self.services.queries.step_order(self.execution_id)
        except EngineError:
            order = []
        self.step_order = order
        if self.is_attached:
            self.refresh_steps(force=True)

    def pull_log(self) -> None:
        if not self.reading_back:
            self.load(self._read_log(), group="log")

    async def _read_log(self) -> None:
        queries = self.services.queries
        fresh: list[tuple[int, str | None, str, str]] = []
        try:
            if self.after_seq == 0:
                # Opening: the last lines, not the whole log from its first line.
                new = await queries.log_tail(self.execution_id, limit=LOG_OPEN)
                if new:
                    self.earliest_seq = new[0].seq
                if new and new[0].seq > 1:
                    fresh.append(self._skipped(new[0].seq, new[0].seq - 1))
            else:
                new, last = await queries.log_after(
                    self.execution_id, after_seq=self.after_seq, limit=LOG_BATCH
                )
                if len(new) == LOG_BATCH and last > new[-1].seq + LOG_BATCH:
                    # More arrives than can be drawn: skip to the newest lines.
                    new = await queries.log_tail(self.execution_id, limit=LOG_BATCH)
                    fresh.append(self._skipped(new[0].seq, new[0].seq - self.after_seq - 1))
        except EngineError:
            return
        if not new or not self.is_attached or self.reading_back:
            return
        self.after_seq = new[-1].seq
        fresh.extend((line.seq, line.step_id, line.stream, line.text) for line in new)
        self.buffer.extend(fresh)
        shown = [self.format_line(entry) for entry in fresh if self.shows(entry)]
        if shown:
            # One write for the batch: Rich lays it out once, not line by line.
            self.query_one(RichLog).write(Text("\n").join(shown), scroll_end=self.follow)

    def _skipped(self, seq: int, n: int) -> tuple[int, str | None, str, str]:
        text = f"[{n:,} lines not shown here: g on the log loads earlier ones;"
        text += f" wfe logs {self.execution_id} prints them all]"
        return (seq, None, SKIPPED, text)

    def load_earlier(self) -> None:
        """The log's previous lines, in place of the newest (the buffer stays bounded)."""
        if self.earliest_seq > 1:
            self.load(self._read_earlier(), group="log", force=True)

    async def _read_earlier(self) -> None:
        try:
            lines = await self.services.queries.log_tail(
                self.execution_id, limit=LOG_OPEN, before_seq=self.earliest_seq
            )
        except EngineError as exc:
            self.failed(exc)
            return
        if not lines or not self.is_attached:
            return
        self.earliest_seq = lines[0].seq
        entries: list[tuple[int, str | None, str, str]] = []
        if lines[0].seq > 1:
            entries.append(self._skipped(lines[0].seq, lines[0].seq - 1))
        entries.extend((line.seq, line.step_id, line.stream, line.text) for line in lines)
        held = [e for e in self.buffer if e[2] != SKIPPED]
        entries.extend(held[: LOG_BUFFER - len(entries)])
        self.buffer = deque(entries, maxlen=LOG_BUFFER)
        self.reading_back = True
        if self.follow:
            self.follow = False
            self.query_one(RichLog).auto_scroll = False
        self.redraw_log()
        self.query_one(RichLog).scroll_home(animate=False)

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
        elif stream in ("system", SKIPPED):
            style = "dim"
        line = Text(f"{(step_id or '-'):<12} ", style="dim") + Text(text, style=style)
        if self.pattern:
            line.highlight_words([self.pattern], style="reverse", case_sensitive=False)
        return line

    def redraw_log(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        shown = [self.format_line(entry) for entry in self.buffer if self.shows(entry)]
        if shown:
            log.write(Text("\n").join(shown), scroll_end=self.follow)
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
        self.dismiss()

    def action_cursor(self, step: int) -> None:
        if isinstance(self.focused, RichLog):
            self.focused.scroll_relative(y=step, animate=False)
            return
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + step)

    def action_edge(self, end: int) -> None:
        if isinstance(self.focused, RichLog):
            if not end and self.focused.scroll_y == 0 and self.earliest_seq > 1:
                self.load_earlier()  # at the top already: go further back
                return
            (self.focused.scroll_end if end else self.focused.scroll_home)(animate=False)
            return
        table = self.query_one(DataTable)
        table.move_cursor(row=(table.row_count - 1) if end else 0)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        log = self.query_one(RichLog)
        log.auto_scroll = self.follow
        if self.follow and self.reading_back:
            # Back to the newest lines: reopen on the tail.
            self.reading_back = False
            self.after_seq = 0
            self.buffer.clear()
            log.clear()
            self.pull_log()
        elif self.follow:
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
        self.post_message(CancelExecution(self.execution_id))

    def action_page(self, direction: int) -> None:
        total = len(self.step_order or [])
        start = self.steps_start + direction * STEP_PAGE
        if start < 0 or start >= total:
            return
        self.steps_start = start
        if self.follow:  # reading another page: stop jumping to the running step
            self.action_toggle_follow()
        self.refresh_steps(force=True)

    def action_rerun(self) -> None:
        self.post_message(RerunExecution(self.execution_id))
