"""Keeping Python's garbage collector out of the way of key presses.

A full (generation 2) collection walks every container object the process holds: with
Textual, SQLAlchemy and a 10,000-step workflow loaded that is 50-250 ms, and it lands
wherever the allocation count says, often on a key press. So, while the console runs:

- what start-up built (modules, the app, the first view) is frozen: it lives as long as
  the process, and no collection scans it again (``gc.freeze``);
- full collections no longer start by themselves; one runs every ``EVERY`` seconds
  when no key has been pressed for ``QUIET`` seconds. Young objects are still collected
  as usual, so only old cyclic garbage waits, for a minute at most.

Everything is put back as it was when the console stops.
"""

from __future__ import annotations

import gc
import time

EVERY = 30.0
QUIET = 2.0
NEVER = 1_000_000_000  # a generation-2 threshold that is never reached


class CollectWhenIdle:
    def __init__(self) -> None:
        self.last_input = time.monotonic()
        self._saved: tuple[int, int, int] | None = None
        self._last_full = time.monotonic()
        self.collections = 0

    def start(self) -> None:
        """Call once start-up is done."""
        if self._saved is not None:
            return
        gc.collect()
        gc.freeze()
        self._saved = gc.get_threshold()
        gen0, gen1, _gen2 = self._saved
        gc.set_threshold(gen0, gen1, NEVER)

    def tick(self) -> None:
        """Call every second or so: runs the full collection when it is due and quiet."""
        now = time.monotonic()
        if self._saved is None or now - self._last_full < EVERY or now - self.last_input < QUIET:
            return
        gc.collect()
        self._last_full = time.monotonic()
        self.collections += 1

    def stop(self) -> None:
        if self._saved is None:
            return
        gc.set_threshold(*self._saved)
        gc.unfreeze()
        self._saved = None
