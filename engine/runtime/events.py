"""What the executor tells its listeners, and its statistics."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Event:
    """A committed change, for listeners (the CLI's progress, the console)."""

    kind: Literal["execution", "step", "log"]
    execution_id: int
    status: str | None = None
    step_id: str | None = None
    attempt: int | None = None
    duration_ms: float | None = None
    text: str | None = None
    stream: str | None = None


Listener = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class ExecutorStatistics:
    """A snapshot of the executor (as ``trio.CapacityLimiter.statistics()`` is)."""

    running: int
    queued: int
    max_concurrent_executions: int
    max_parallel_steps: int
    steps_done: int
    steps_per_second: float


class StepRate:
    """Steps finished per second over the last ten seconds of trio's clock."""

    def __init__(self) -> None:
        self.total = 0
        self._recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=64)

    def count(self, now: float) -> None:
        self.total += 1
        second = int(now)
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1] = (second, self._recent[-1][1] + 1)
        else:
            self._recent.append((second, 1))

    def per_second(self, now: float) -> float:
        second = int(now)
        window = [(t, n) for t, n in self._recent if second - t < 10]
        if not window:
            return 0.0
        return sum(n for _, n in window) / max(1, second - window[0][0] + 1)
