"""An execution's steps against wall-clock time, a line each: what was slow, what overlapped.

Each attempt of a step is a bar from its start to its end (or to now, while it runs),
on one scale from the execution's start to its end (or now). The kind of time is told
by the bar's character, so it reads without colour too:

    █ ran     ▓ a failed attempt     ░ waited for a decision (approval)     ▒ cancelled

A wait for a free slot is not recorded (a step's start is taken once it has its slot):
it shows as the gap before the step's bar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.text import Text

from console import format
from engine import store
from engine.status import StepStatus

MOST_ROWS = 1000  # steps drawn; a longer execution says how many were left out
NAME_MOST = 24  # a step id's room; longer ones are cut with …
# The character and the theme variable of each kind of time.
RAN, FAILED, WAITED, CANCELLED = ("█", "success"), ("▓", "error"), ("░", "accent"), ("▒", "warning")
RUNNING = ("█", "primary")
LEGEND = "█ ran  ▓ failed attempt  ░ waited for approval  ▒ cancelled  (gap: not started)"


def draw(
    execution: store.Execution,
    runs: Sequence[store.StepRun],
    now: datetime,
    width: int,
    variables: Mapping[str, str],
) -> Text:
    """The timeline in ``width`` cells: an axis, a line per step, the legend."""
    started = [r.started_at for r in runs if r.started_at is not None]
    begin = execution.started_at or (min(started) if started else None)
    if begin is None:
        return Text("Nothing has started yet.")
    end = execution.finished_at or now
    ends = [r.finished_at or now for r in runs if r.started_at is not None]
    end = max([end, *ends])
    span = max((end - begin).total_seconds(), 0.001)
    steps = list(dict.fromkeys(r.step_id for r in runs))
    name = min(max((len(s) for s in steps), default=4), NAME_MOST)
    bar = max(width - name - 12, 10)  # the step's name, a space, the bar, its time
    out = Text()
    out.append_text(_axis(span, name, bar))
    by_step: dict[str, list[store.StepRun]] = {}
    for r in runs:
        by_step.setdefault(r.step_id, []).append(r)
    shown = steps[:MOST_ROWS]
    for step in shown:
        attempts = by_step[step]
        line = Text(_cut(step, name).ljust(name) + " ")
        cells = [(" ", "")] * bar
        for r in attempts:
            if r.started_at is None:
                continue
            first = int((r.started_at - begin).total_seconds() / span * bar)
            last = math.ceil(((r.finished_at or now) - begin).total_seconds() / span * bar)
            first = min(max(first, 0), bar - 1)
            last = min(max(last, first + 1), bar)  # a cell at least, within the bar
            char, variable = _kind(r, is_last=r is attempts[-1])
            for i in range(first, last):
                cells[i] = (char, variable)
        for char, variable in cells:
            line.append_text(format.coloured(char, variable, variables) if variable else Text(char))
        last_run = attempts[-1]
        line.append(" " + _took(last_run, now))
        out.append("\n")
        out.append_text(line)
    if len(steps) > len(shown):
        out.append(
            f"\n… and {len(steps) - len(shown):,} more steps (the first {MOST_ROWS:,} shown)"
        )
    out.append("\n" + LEGEND)
    return out


def _kind(r: store.StepRun, *, is_last: bool) -> tuple[str, str]:
    if r.status == StepStatus.WAITING:
        return WAITED
    if r.status == StepStatus.RUNNING:
        return RUNNING
    if r.status == StepStatus.CANCELLED:
        return CANCELLED
    if r.status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
        return FAILED
    if not is_last:  # an earlier attempt that did not fail (it was taken over)
        return FAILED
    return RAN


def _took(r: store.StepRun, now: datetime) -> str:
    if r.started_at is None:
        return r.status.replace("_", " ")
    if r.duration_ms is not None:
        return format.duration(r.duration_ms)
    return format.seconds(max(0.0, ((r.finished_at or now) - r.started_at).total_seconds()))


def _axis(span: float, name: int, bar: int) -> Text:
    """``0s`` under the bar's start, the middle and the whole span at its end."""
    left, middle, right = "0s", _span(span / 2), _span(span)
    room = bar - len(left) - len(middle) - len(right)
    first = max(room // 2, 1)
    axis = left + "─" * first + middle + "─" * max(room - first, 1) + right
    return Text(" " * (name + 1) + axis[: bar + len(right)])


def _span(seconds: float) -> str:
    return format.duration(seconds * 1000)


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
