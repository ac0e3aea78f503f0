"""The store, the embedded executor and this process, at a glance."""

from __future__ import annotations

from functools import partial

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from console.screens.base import View
from console.services import HealthView
from console.widgets.key_bar import KeyBar
from console.widgets.title import Title


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.1f} MB"


def _disk(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e9:,.1f} GB free"


class HealthScreen(View):
    def compose(self) -> ComposeResult:
        yield Title(self.services.context, "Health", classes="title")
        with VerticalScroll(id="health-body"):
            yield Static(id="health-store")
            yield Static(id="health-executor")
            yield Static(id="health-process")
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_data()
        self.every(1.0, self.refresh_data)

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:  # a view out of sight costs nothing
            self.load(partial(self.read, self.services.queries.health, self._show), force=force)

    def _show(self, view: HealthView) -> None:
        h = view.health
        state = "reachable" if h.reachable else f"UNREACHABLE: {escape(h.error or '')}"
        self.query_one("#health-store", Static).update(
            f"[b]Store[/b]\n  {escape(h.url)}\n  {state}; schema {h.schema_version}"
            f" (this wfe: {view.schema_supported})\n  size {_size(h.size_bytes)};"
            f" {_disk(h.free_disk_bytes)} on its disk\n"
        )
        host = self.services.host
        s = self.services.executor_statistics()
        if host is None:
            text = "[b]Executor[/b]\n  none: this console was opened without one\n"
            here = "executions started here wait in the queue for one"
        elif s is None:
            st = host.state()
            then = "" if st.restart_in is None else f"; restarting in {st.restart_in:.0f}s"
            text = f"[b]Executor[/b] (embedded)\n  not running: {escape(st.stopped or '')}{then}\n"
            here = (
                "executions started here cannot run until the executor is back"
                if st.restart_in is not None
                else "nothing here runs executions"
            )
        else:
            text = (
                f"[b]Executor[/b] (embedded)\n  running {s.running}, queued {s.queued}\n"
                f"  limits: {s.max_concurrent_executions} executions,"
                f" {s.max_parallel_steps} steps per execution\n"
                f"  {s.steps_done:,} steps done, {s.steps_per_second:,.0f} steps/s\n"
            )
            here = "executions started here run in this console"
        workers = view.runners
        now = self.services.clock()
        if workers:
            text += f"\n[b]Workers[/b] ({len(workers)} alive; new executions go to them)\n"
            for w in workers:
                age = (now - w.heartbeat_at).total_seconds()
                text += (
                    f"  {escape(w.id)}  concurrency {w.concurrency},"
                    f" heartbeat {max(age, 0):.0f}s ago\n"
                )
        else:
            text += f"\n[b]Workers[/b]\n  none alive; {here}\n"
        self.query_one("#health-executor", Static).update(text)
        self.query_one("#health-process", Static).update(
            f"[b]Process[/b]\n  memory {_size(self.services.memory())}\n"
        )
