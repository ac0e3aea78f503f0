"""A Linux terminal driver that delivers a lone Esc without waiting a tenth of a second.

Textual's input thread wakes only when input arrives or its 100 ms ``select`` runs out,
and a lone Esc can only be told from the start of an escape sequence when nothing else
follows within ``ESCDELAY``: so Esc ("back") took 100 to 120 ms however short ESCDELAY was.
This driver's input loop (otherwise Textual's own) sleeps only until the parser's pending
Esc falls due; and unless the user set ``ESCDELAY``, it waits 50 ms for the rest of a
sequence (neovim's ``ttimeoutlen``), not 100.

It leans on Textual internals (the XTerm parser and its deadline); where they are not as
expected, :func:`driver_class` answers ``None`` and the console keeps Textual's driver.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder
from typing import Any

from textual import constants
from textual.driver import Driver

ESCAPE_DELAY = 0.05  # seconds: unless ESCDELAY says otherwise
IDLE_WAIT = 0.1  # seconds: how often the loop looks at its exit flag (Textual's figure)


def next_wait(deadline: float | None, now: float) -> float:
    """How long the input loop may sleep: until a pending Esc falls due, at most 0.1 s."""
    if deadline is None:
        return IDLE_WAIT
    return min(IDLE_WAIT, max(0.0, deadline - now))


def driver_class() -> type[Driver] | None:
    """The quick-Esc driver, or ``None`` where this Textual's internals differ."""
    try:
        from textual._parser import ParseError
        from textual._time import get_time
        from textual._xterm_parser import XTermParser
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:
        return None
    probe = XTermParser()
    if not hasattr(probe, "_timeout_time") or not hasattr(probe, "tick"):
        return None

    class QuickEscapeDriver(LinuxDriver):
        def run_input_thread(self) -> None:
            """Wait for input and dispatch events (Textual's loop, with a shorter wait)."""
            if "ESCDELAY" not in os.environ:
                constants.ESCAPE_DELAY = ESCAPE_DELAY  # type: ignore[misc]
            selector = selectors.SelectSelector()
            selector.register(self.fileno, selectors.EVENT_READ)
            parser: Any = XTermParser(self._debug)
            decode = getincrementaldecoder("utf-8")().decode

            def process(events: list[tuple[selectors.SelectorKey, int]], final: bool) -> None:
                for index, (_key, mask) in enumerate(events):
                    if mask & selectors.EVENT_READ:
                        last = index == len(events) - 1
                        data = decode(os.read(self.fileno, 4096), final=final and last)
                        if not data:
                            break  # stdin is a pipe that closed
                        for event in parser.feed(data):
                            self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)

            try:
                while not self.exit_event.is_set():
                    wait = next_wait(parser._timeout_time, get_time())
                    process(selector.select(wait), final=False)
                selector.unregister(self.fileno)
                process(selector.select(IDLE_WAIT), final=True)
            finally:
                selector.close()
                try:
                    for _event in parser.feed(""):
                        pass
                except (EOFError, ParseError):
                    pass

    return QuickEscapeDriver
