"""What every view of the console is: a Screen that comes back without restyling."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.screen import Screen


class View(Screen[None]):
    """A console screen.

    Textual restyles a whole screen each time it comes back (a view switch, a modal
    closed), which also empties every table's render cache: most of a key press's cost.
    Nothing here changes style while hidden, and a theme change is applied on return
    anyway (``App.switch_mode`` refreshes the CSS when it changed), so the view comes
    back as it was.

    A screen made anew (a first visit, a detail screen) would also re-parse every
    stylesheet of the app; see ``__init__``.
    """

    def __init__(self) -> None:
        super().__init__()
        # A new screen counts as out of date with the app's CSS, so Textual re-parses
        # every stylesheet of the app on its first two visits (100-200 ms each time).
        # The stylesheet is current (a theme change refreshes it at once, and widgets'
        # own CSS is parsed as they mount): say so. If Textual renames the counter, this
        # does nothing and the first visits are merely slow.
        count = getattr(self.app, "_css_update_count", None)
        if count is not None and hasattr(self, "_css_update_count"):
            self._css_update_count = count

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        event.refresh_styles = False

    def every(self, interval: float, refresh: Callable[[], object]) -> None:
        """Run ``refresh`` every ``interval`` seconds, skipping a turn just after a key.

        What a key sets off (a new screen, a popped one) then runs without a periodic
        refresh taking its turn in between; the next turn catches up.
        """

        def turn() -> None:
            if not getattr(self.app, "key_just_pressed", lambda: False)():
                refresh()

        self.set_interval(interval, turn)
