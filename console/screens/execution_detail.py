"""One execution: its steps and its live log.

The steps show a page at a time (``[``/``]``; while following, the page of the step that
runs), read from the store a page at a time, so a 10,000-step execution opens as fast as
a small one. The log is read in batches (at most ten a second) into a bounded buffer of
its last lines; it follows new lines (``f``), wraps (``w``), shows each line's time
(``t``), searches (``/``, ``n``/``N``) and can show only the matching lines (``m``).
Selecting a step narrows the log to it. Output is plain text; stderr is marked ``!``,
which survives NO_COLOR where a colour would not. The log's lines are drawn in
:mod:`.execution_log`, the steps' rows in :mod:`.execution_steps`; this screen reads,
holds and shows them.

A step waiting for approval is decided here too (``A``/``X``); ``c`` and ``R`` go through
:mod:`console.actions`, which refuse to cancel a finished execution and open a re-run.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections import deque
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.app import ComposeResult, ScreenStackError
from textual.binding import Binding
from textual.widgets import DataTable, Input, RichLog, Static

from console import actions, format, keys
from console.messages import (
    CancelExecution,
    DecideApproval,
    MarkStep,
    OpenExecution,
    OpenTimeline,
    RerunExecution,
    RerunStep,
)
from console.screens import execution_log, execution_steps
from console.screens.log_search import LogSearch
from console.services import Services
from console.widgets import tables
from console.widgets.key_bar import KeyBar
from console.widgets.title import Title
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


class ExecutionDetailScreen(LogSearch):
    AUTO_FOCUS = "#steps"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back / clear", id="execution.back"),
        # What acts on the execution first: the key bar shows what fits, in this order.
        Binding("c", "cancel", "Cancel", id="execution.cancel"),
        Binding("R", "rerun", "Re-run", id="execution.rerun"),
        Binding("O", "rerun_step", "Re-run step", id="execution.rerun_step"),
        Binding("M", "mark_step", "Mark step", id="execution.mark"),
        Binding("A", "decide(True)", "Approve", id="execution.approve"),
        Binding("X", "decide(False)", "Reject", id="execution.reject"),
        Binding("f", "toggle_follow", "Follow", id="execution.follow"),
        Binding("slash", "search", "Search", id="execution.search"),
        Binding("w", "toggle_wrap", "Wrap", id="execution.wrap"),
        Binding("t", "toggle_times", "Times", id="execution.times"),
        Binding("m", "toggle_matching", "Only matches", id="execution.matching"),
        Binding("C", "cycle_context", "Context lines", id="execution.context"),
        Binding("ctrl+s", "save_log", "Save log", id="execution.save"),
        Binding("T", "timeline", "Timeline", id="execution.timeline"),
        Binding("D", "graph", "Graph", id="execution.graph"),
        Binding("n", "next_match(1)", "Next match", id="execution.next"),
        Binding("N", "next_match(-1)", "Prev match", id="execution.prev"),
        Binding("right_square_bracket", "page(1)", "Next steps", id="execution.next_page"),
        Binding("left_square_bracket", "page(-1)", "Prev steps", id="execution.prev_page"),
        Binding("tab", "app.focus_next", "Switch pane", id="execution.focus", show=False),
        *keys.cursor_keys("execution"),
    ]

    def __init__(self, services: Services, execution_id: int) -> None:
        super().__init__(services)
        self.execution_id = execution_id
        self.buffer: deque[execution_log.Entry] = deque(maxlen=LOG_BUFFER)
        self.after_seq = 0
        self.step_filter: str | None = None
        self.hook_ids: set[str] = set()  # the on: hooks' steps
        self.child_runs: dict[str, store.Execution] = {}  # by the workflow: step that ran it
        self.pattern: str | None = None
        self.only_matching = False
        self.context = 0  # lines shown around each match, with only matches shown
        self.follow = True
        self.show_times = False
        self.match_index = -1
        self.is_over = False
        self.step_order: list[str] | None = None
        self.attempts: dict[str, int] = {}  # each step's attempts, as its definition says
        self.step_status: dict[str, str] = {}  # of the steps on the page shown
        self.shown: tuple[store.Execution, store.StepWindow] | None = None  # the last read
        self.steps_start = 0
        self.counts: dict[str, int] = {}
        self.tallied = -math.inf
        self.earliest_seq = 0  # the first log line held; earlier ones load on `g`
        self.reading_back = False  # earlier lines shown: new ones wait until `f`
        self.hint: str | None = None  # drawn in the empty log; never stored

    def compose(self) -> ComposeResult:
        yield Title(
            self.services.context, f"Execution {self.execution_id}", classes="title", id="heading"
        )
        yield tables.Table(id="steps", cursor_type="row", zebra_stripes=True)
        yield Input(
            placeholder="search the log (!text: lines without it); Enter finds", id="filter"
        )
        yield RichLog(id="log", max_lines=LOG_BUFFER, wrap=False, auto_scroll=True, markup=False)
        yield Static("", classes="hint", id="log-state")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("step", "status", "attempt", "started", "duration", "exit", "error"):
            table.add_column(key, key=key)
        self.refresh_steps()
        self.load(self._read_definition, group="step-order")
        # The steps show first; the log's last lines (tens of ms to lay out) and the
        # tally a frame later.
        self.call_after_refresh(self.pull_log)
        self.call_after_refresh(self.refresh_steps, force=True)
        self.every(0.5, self.refresh_steps)
        self.every(LOG_INTERVAL, self.pull_log)
        self.show_state()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Back from another screen or a modal (a cancel, a decision): what it changed
        # shows now, not at the next turn. View's handler, which keeps the styles, runs
        # too: Textual calls each class's handler in turn.
        self.refresh_data(force=True)

    # -- data --------------------------------------------------------------------------

    def refresh_data(self, *, force: bool = False) -> None:
        self.refresh_steps(force=force)

    def refresh_steps(self, *, force: bool = False) -> None:
        if not self.is_current:
            return
        if self.is_over and self.shown is not None and not force:
            # Finished: nothing changes in the store, but "3s ago" does.
            self._show_steps(*self.shown)
            return
        self.load(partial(self._read_steps, force), group="steps", force=force)

    async def _read_steps(self, force: bool) -> None:
        queries = self.services.queries
        try:
            view = await queries.execution_view(
                self.execution_id, start=self.steps_start, limit=STEP_PAGE, tally=self._tally()
            )
            counts = view.window.counts
            if view.execution.status in status.FINISHED and not counts:
                # Just finished: no later read comes, so count the steps' last states now
                # (read after the execution, so never older than its status).
                view = await queries.execution_view(
                    self.execution_id, start=self.steps_start, limit=STEP_PAGE, tally=True
                )
                counts = view.window.counts
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
        if counts:
            self.counts = counts
        if self.is_attached:
            self.child_runs = view.children
            self.shown = (view.execution, view.window)
            self._show_steps(view.execution, view.window)

    def _show_steps(self, e: store.Execution, window: store.StepWindow) -> None:
        v = self.app.theme_variables
        self.is_over = e.status in status.FINISHED
        now = self.services.clock()
        heading = f"Execution {e.id}  {e.workflow_name} v{e.version}  "
        if e.parent_id is not None:
            heading += f"(child of {e.parent_id}, {e.parent_step})  "
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
            + Text(f"  {execution_steps.took(e.duration_ms, e.started_at, e.status, now)}")
            + (Text(f"  {e.error}", style="bold") if e.error else Text(""))
            + Text(f"{where}  {tally}", style="dim")
        )
        rows = {r.step_id: r for r in window.runs}
        if self.step_order:
            order = [
                s
                for s in self.step_order[self.steps_start : self.steps_start + STEP_PAGE]
                if s in rows or s not in self.hook_ids  # a hook that has not run: not there
            ]
        else:  # not read yet, or the workflow changed since: what was recorded
            order = list(rows)
        self.step_status = {
            s: rows[s].status if s in rows else status.StepStatus.PENDING for s in order
        }
        table_rows = execution_steps.rows(
            order, rows, self.attempts, v, now, window.items, self.child_runs
        )
        tables.sync(self.query_one(DataTable), table_rows)
        self.show_hint()

    def _tally(self) -> bool:
        # The tally counts every step (some 30 ms for 10,000, on a worker thread): until
        # one is shown, then at most every TALLY_EVERY seconds. (A read can be replaced
        # by a newer one before it shows what it counted.)
        now = time.monotonic()
        tally = not self.counts or now - self.tallied >= TALLY_EVERY
        if tally:
            self.tallied = now
        return tally

    async def _read_definition(self) -> None:
        """The steps in file order and their retries, from the version the execution ran.

        Parsing a 10,000-step definition takes most of a second: on a thread, once per
        workflow version for the whole process (the definition cache). A workflow changed
        since leaves both unknown: the steps recorded show, their attempts as numbers.
        """
        queries = self.services.queries
        order: list[str] = []
        workflow = None
        try:
            e = await queries.execution(self.execution_id)
            row = await queries.get_workflow(e.workflow_name)
            if row.version == e.version:
                workflow = await queries.parsed(row)
                # The hooks after the main steps: shown once they run (see _show_steps).
                order = [step.id for step in (*workflow.steps, *workflow.hook_steps)]
                self.hook_ids = {step.id for step in workflow.hook_steps}
                self.attempts = {
                    step.id: step.retry.attempts for step in (*workflow.steps, *workflow.hook_steps)
                }
        except EngineError:
            pass
        self.step_order = order
        if self.is_attached:
            self.refresh_steps(force=True)
        if workflow is not None:
            # The graph (D) is laid out now, on a thread, so that it opens at once.
            from console.screens.graph import layout_of

            await layout_of(workflow, workflow.dependencies())

    def pull_log(self) -> None:
        if not self.reading_back:
            self.load(self._read_log, group="log")

    async def _read_log(self) -> None:
        queries = self.services.queries
        fresh: list[execution_log.Entry] = []
        try:
            if self.after_seq == 0:
                # Opening: the last lines, not the whole log from its first line.
                new = await queries.log_tail(self.execution_id, limit=LOG_OPEN)
                if new:
                    self.earliest_seq = new[0].seq
                if new and new[0].seq > 1:
                    fresh.append(
                        execution_log.skipped(new[0].seq, new[0].seq - 1, self.execution_id)
                    )
            else:
                new, last = await queries.log_after(
                    self.execution_id, after_seq=self.after_seq, limit=LOG_BATCH
                )
                if len(new) == LOG_BATCH and last > new[-1].seq + LOG_BATCH:
                    # More arrives than can be drawn: skip to the newest lines.
                    new = await queries.log_tail(self.execution_id, limit=LOG_BATCH)
                    n = new[0].seq - self.after_seq - 1
                    fresh.append(execution_log.skipped(new[0].seq, n, self.execution_id))
        except EngineError:
            return
        if not new or not self.is_attached or self.reading_back:
            return
        self.after_seq = new[-1].seq
        fresh.extend(execution_log.entry(line) for line in new)
        self.buffer.extend(fresh)
        if self.context and self.only_matching and self.pattern:
            # A match's context comes before and after it: the lines are drawn again.
            self.redraw_log()
            return
        shown = [self.format_line(e) for e in fresh if self.shows(e)]
        if shown:
            log = self.query_one(RichLog)
            if self.hint is not None:  # the first output replaces the hint
                log.clear()
                self.hint = None
            # One write for the batch: Rich lays it out once, not line by line.
            log.write(Text("\n").join(shown), scroll_end=self.follow)

    def load_earlier(self) -> None:
        """The log's previous lines, in place of the newest (the buffer stays bounded)."""
        if self.earliest_seq > 1:
            self.load(self._read_earlier, group="log", force=True)

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
        entries: list[execution_log.Entry] = []
        if lines[0].seq > 1:
            entries.append(execution_log.skipped(lines[0].seq, lines[0].seq - 1, self.execution_id))
        entries.extend(execution_log.entry(line) for line in lines)
        held = [e for e in self.buffer if e.stream != execution_log.SKIPPED]
        entries.extend(held[: LOG_BUFFER - len(entries)])
        self.buffer = deque(entries, maxlen=LOG_BUFFER)
        self.reading_back = True
        if self.follow:
            self.follow = False
            self.query_one(RichLog).auto_scroll = False
        self.redraw_log()
        self.query_one(RichLog).scroll_home(animate=False)

    def shows(self, e: execution_log.Entry) -> bool:
        return execution_log.shows(
            e, step_filter=self.step_filter, pattern=self.pattern, only_matching=self.only_matching
        )

    def format_line(self, e: execution_log.Entry) -> Text:
        return execution_log.format_line(
            e, self.app.theme_variables, show_times=self.show_times, pattern=self.pattern
        )

    def redraw_log(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        self.hint = None
        shown = [
            self.format_line(e) if e is not None else Text(execution_log.SEPARATOR, "dim")
            for e in self.shown_entries()
        ]
        if shown:
            log.write(Text("\n").join(shown), scroll_end=self.follow)
        self.show_hint()
        self.show_state()

    def show_hint(self) -> None:
        """Say so when the log is empty because a step has printed nothing yet.

        An empty log alone cannot tell "no output yet" from "not read yet" or "stuck".
        """
        hint = execution_log.hint(
            self.buffer,
            self.step_status,
            step_filter=self.step_filter,
            pattern=self.pattern,
            only_matching=self.only_matching,
        )
        if hint == self.hint:
            return
        log = self.query_one(RichLog)
        log.clear()  # it holds only the previous hint: no line is shown
        self.hint = hint
        if hint is not None:
            log.write(Text(hint, style="dim italic"))

    def show_state(self) -> None:
        state = execution_log.state(
            follow=self.follow,
            wrap=self.query_one(RichLog).wrap,
            show_times=self.show_times,
            step_filter=self.step_filter,
            pattern=self.pattern,
            only_matching=self.only_matching,
            found=self._found() if self.pattern else None,
            context=self.context,
        )
        self.query_one("#log-state", Static).update(state)

    # -- actions ------------------------------------------------------------------------

    def action_timeline(self) -> None:
        self.post_message(OpenTimeline(self.execution_id))

    def action_graph(self) -> None:
        """The live graph. Its screen is kept while this one is open (installed), so
        coming back to it shows it at once, then reads where each step stands."""
        from console.screens.graph import GraphScreen

        def chosen(step: str | None) -> None:
            if step is not None and self.is_attached:
                self.step_filter = step
                tables.select_key(self.query_one(DataTable), step)
                self.redraw_log()

        name = f"graph-{self.execution_id}-{id(self)}"
        if not self.app.is_screen_installed(name):
            self.app.install_screen(GraphScreen(self.services, self.execution_id), name)
            self._graph_screen = name
        self.app.push_screen(name, chosen)

    def on_unmount(self) -> None:
        name = getattr(self, "_graph_screen", None)
        if name is None or not self.app.is_screen_installed(name):
            return
        with contextlib.suppress(ScreenStackError):  # still shown: the app is closing
            self.app.uninstall_screen(name)

    def action_save_log(self) -> None:
        """Save the whole log (or the step shown alone, after Enter) to a file."""
        name = self.shown[0].workflow_name if self.shown else None
        self.app.run_worker(
            actions.save_log(
                self.app, self.services, self.execution_id, name, step_id=self.step_filter
            ),
            group="actions",
        )

    def copyable(self) -> tuple[str, str] | None:
        """The step under the cursor's output (or its error), else the execution's id."""
        key = tables.selected_key(self.query_one(DataTable))
        runs = {r.step_id: r for r in self.shown[1].runs} if self.shown else {}
        run = runs.get(key or "")
        if run is not None and run.output is not None:
            text = run.output if isinstance(run.output, str) else json.dumps(run.output)
            return f"the output of {run.step_id}", text
        if run is not None and run.error:
            return f"the error of {run.step_id}", run.error
        return "execution id", str(self.execution_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        step = event.row_key.value
        child = self.child_runs.get(step or "")
        if child is not None:  # a workflow: step opens the execution it started
            self.post_message(OpenExecution(child.id))
            return
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

    def action_toggle_times(self) -> None:
        self.show_times = not self.show_times
        self.redraw_log()

    def action_cancel(self) -> None:
        self.post_message(CancelExecution(self.execution_id))  # refused there once finished

    def action_decide(self, approve: bool) -> None:
        """Decide the approval under the cursor, or the only one waiting on this page."""
        waiting = [s for s, st in self.step_status.items() if st == status.StepStatus.WAITING]
        under = tables.selected(self.query_one(DataTable))
        if under in waiting:
            step = under
        elif len(waiting) == 1:
            step = waiting[0]
        elif waiting:
            self.notify(f"{len(waiting)} steps wait for approval: put the cursor on one")
            return
        else:
            self.notify(f"No step of execution {self.execution_id} waits for approval")
            return
        self.post_message(DecideApproval(self.execution_id, step, approve))

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

    def _step_under_cursor(self, what: str) -> str | None:
        step = tables.selected(self.query_one(DataTable))
        if step is None:
            self.notify(f"Put the cursor on the step to {what}")
        return step

    def action_rerun_step(self) -> None:
        """Run the step under the cursor again, and what needs it (wfe rerun --only)."""
        step = self._step_under_cursor("run again")
        if step is not None:
            self.post_message(RerunStep(self.execution_id, step))

    def action_mark_step(self) -> None:
        """Settle the step under the cursor as succeeded or failed (wfe step --mark)."""
        step = self._step_under_cursor("mark")
        if step is not None:
            self.post_message(MarkStep(self.execution_id, step))
