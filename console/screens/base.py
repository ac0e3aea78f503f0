"""What every view of the console is: a Screen handed the services, reading off the UI thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import WorkerState

from console.services import Services
from engine.errors import EngineError

T = TypeVar("T")


class View(Screen[None]):
    BINDINGS = [Binding("y", "copy", "Copy", id="view.copy", show=False)]

    """A console screen.

    It reads through ``self.services`` in Textual workers (:meth:`load`), so the UI
    thread only draws. Textual restyles a whole screen each time it comes back (a view
    switch, a modal closed), which also empties every table's render cache: most of a
    key press's cost. Nothing here changes style while hidden, and a theme change is
    applied on return anyway (``App.switch_mode`` refreshes the CSS when it changed), so
    the view comes back as it was.
    """

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        # A new screen counts as out of date with the app's CSS, so Textual re-parses
        # every stylesheet of the app on its first two visits (100-200 ms each time).
        # The stylesheet is current (a theme change refreshes it at once, and widgets'
        # own CSS is parsed as they mount): say so. If Textual renames the counter, this
        # does nothing and the first visits are merely slow.
        count = getattr(self.app, "_css_update_count", None)
        if count is not None and hasattr(self, "_css_update_count"):
            self._css_update_count = count

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Back in sight: read at once, so what it shows is as of now (issue: stale frames)."""
        event.refresh_styles = False
        if self.is_mounted:
            self.refresh_data(force=True)

    def every(self, interval: float, refresh: Callable[[], object]) -> None:
        """Run ``refresh`` every ``interval`` seconds, skipping a turn just after a key.

        What a key sets off (a new screen, a popped one) then runs without a periodic
        refresh taking its turn in between; the next turn catches up.
        """

        def turn() -> None:
            if not self.services.busy():
                refresh()

        self.set_interval(interval, turn)

    def load(
        self,
        work: Callable[[], Coroutine[Any, Any, None]],
        *,
        group: str = "refresh",
        force: bool = False,
    ) -> None:
        """Run ``work()`` (which reads the store and shows what it read) in a worker.

        While a read of the same group is under way a periodic one is dropped; a
        ``force``\\ d one (after the user changed something) replaces it. ``work`` is
        called only when the worker starts: one replaced before it began leaves no
        coroutine behind that was never awaited.
        """
        busy = any(
            w.group == group
            and w.node is self
            and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        )
        if busy and not force:
            return

        async def run() -> None:
            await work()

        self.run_worker(run, group=group, exclusive=True)  # type: ignore[arg-type]  # Textual types the coroutine Coroutine[None, None, ...]

    async def read(self, query: Callable[[], Awaitable[T]], show: Callable[[T], object]) -> None:
        """Run a store query and show its answer (a refusal is said in one line).

        ``query`` is called only when the read runs (one dropped by :meth:`load` leaves
        nothing behind); what arrives after the view was closed is dropped.
        """
        try:
            answer = await query()
        except EngineError as exc:
            self.failed(exc)
            return
        if self.is_attached:
            show(answer)

    def refresh_data(self, *, force: bool = False) -> None:
        """Read what the view shows again (``force``: now, even if a read is under way)."""

    def refused(self, what: str) -> bool:
        """In a read-only console, say that ``what`` (an action that writes) is off."""
        if self.services.read_only:
            self.notify(f"This console is read-only: {what} is off", severity="warning")
        return self.services.read_only

    def copyable(self) -> tuple[str, str] | None:
        """What ``y`` copies here: what it is ("execution id") and its text; None: nothing."""
        return None

    def action_copy(self) -> None:
        """Copy what is under the cursor to the clipboard, by OSC 52: it works over SSH,
        in any terminal that lets programs set the clipboard."""
        found = self.copyable()
        if found is None:
            self.notify("Nothing to copy here")
            return
        what, text = found
        self.app.copy_to_clipboard(text)
        shown = text if len(text) <= 60 else text[:59] + "…"
        self.notify(f"Copied {what}: {' '.join(shown.split())}")

    def failed(self, exc: EngineError) -> None:
        """A read or an action the store refused: say so, once, in one line."""
        self.notify(str(exc), severity="error")
