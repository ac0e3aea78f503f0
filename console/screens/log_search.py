"""The execution log's search: ``/`` finds (``!text``: the lines without it), ``n``/``N``
go from match to match, ``m`` shows only the matching lines and ``C`` the lines around
each (none, 2, 5, 10, as ``grep -C``). What shows is worked out in :mod:`.execution_log`.
"""

from __future__ import annotations

from collections import deque

from textual.widgets import Input, RichLog

from console.screens import execution_log
from console.screens.base import View


class LogSearch(View):
    """What :class:`~console.screens.execution_detail.ExecutionDetailScreen` searches with."""

    buffer: deque[execution_log.Entry]
    step_filter: str | None
    pattern: str | None
    only_matching: bool
    context: int
    match_index: int
    follow: bool

    def redraw_log(self) -> None:
        raise NotImplementedError

    def show_state(self) -> None:
        raise NotImplementedError

    def _found(self) -> tuple[int, int]:
        total = len(self.matches())
        at = self.match_index + 1 if 0 <= self.match_index < total else 0
        return at, total

    def shown_entries(self) -> list[execution_log.Entry | None]:
        """The lines the log shows, in order (None: a ``--`` between groups of context)."""
        return execution_log.visible(
            self.buffer,
            step_filter=self.step_filter,
            pattern=self.pattern,
            only_matching=self.only_matching,
            context=self.context,
        )

    def matches(self) -> list[int]:
        """Where the lines the search matches are among the lines shown."""
        return execution_log.matches(self.shown_entries(), self.pattern)

    def action_search(self) -> None:
        """Open the search box, focused now: keys in the same burst are typed into it
        (see ``PagedList.action_filter``)."""
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        self.set_focus(box)

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

    def action_cycle_context(self) -> None:
        """With only matches shown, the lines around each: none, 2, 5, 10 (grep -C)."""
        if not self.pattern:
            self.notify("Search first (/)")
            return
        options = execution_log.CONTEXTS
        self.context = options[(options.index(self.context) + 1) % len(options)]
        self.only_matching = True
        self.redraw_log()
