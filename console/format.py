"""How the console shows times, durations and statuses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text

from engine import definition
from engine.status import ACTIVE, SYMBOLS, ExecutionStatus, StepStatus

if TYPE_CHECKING:
    from engine import store

Clock = Callable[[], datetime]

# Each status's theme variable (its symbol is engine.status.SYMBOLS').
COLOURS: dict[str, str] = {
    ExecutionStatus.SUCCEEDED: "success",
    ExecutionStatus.FAILED: "error",
    ExecutionStatus.TIMED_OUT: "error",
    ExecutionStatus.CANCELLED: "warning",
    StepStatus.SKIPPED: "text-muted",
    ExecutionStatus.RUNNING: "primary",
    StepStatus.WAITING: "accent",
    ExecutionStatus.QUEUED: "text-muted",
    StepStatus.PENDING: "text-muted",
}


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    span = (now - when).total_seconds()
    return "just now" if span < 0 else f"{seconds(span)} ago"


def duration(ms: float | None) -> str:
    return "-" if ms is None else definition.format_duration(ms / 1000)


def rich_colour(value: str) -> str:
    """A Textual colour as Rich understands it (``ansi_green`` is Rich's ``green``)."""
    return value.removeprefix("ansi_")


def status(value: str | None, variables: Mapping[str, str]) -> Text:
    if value is None:
        return Text("-")
    symbol, variable = SYMBOLS.get(value, "?"), COLOURS.get(value, "foreground")
    return coloured(f"{symbol} {value.replace('_', ' ')}", variable, variables)


def coloured(text: str, variable: str, variables: Mapping[str, str]) -> Text:
    """``text`` in a theme variable's colour (plain, if the theme has no usable one)."""
    return Text(text, style=style(variable, variables))


def style(variable: str, variables: Mapping[str, str]) -> Style:
    """A theme variable's colour as a Rich style (none, if the theme has no usable one)."""
    colour = variables.get(variable) or variables.get("foreground") or "default"
    if colour.startswith("#") and len(colour) == 9:  # drop an alpha channel
        colour = colour[:7]
    try:  # Rich parses a style only when it draws: check it now
        return Style.parse(rich_colour(colour))
    except Exception:  # `auto 60%` (a muted colour) is Textual's, not Rich's: plain text
        return Style()


def silent(runner: store.Runner | None, now: datetime) -> float | None:
    """Seconds a runner has been silent past its lease (None: it is alive, or unknown)."""
    if runner is None:
        return None
    if runner.stopped_at is None and runner.expires_at >= now:
        return None
    return max(0.0, (now - runner.heartbeat_at).total_seconds())


def execution_status(
    e: store.Execution,
    runners: Mapping[str, store.Runner],
    now: datetime,
    variables: Mapping[str, str],
) -> Text:
    """An execution's status; one under way whose runner went silent says so, and for how
    long (until a runner takes it over)."""
    if e.status in ACTIVE and e.runner is not None:
        quiet = silent(runners.get(e.runner), now)
        if quiet is not None:
            return coloured(f"⚠ runner silent {seconds(quiet)}", "warning", variables)
    return status(e.status, variables)


def seconds(value: float) -> str:
    """A span as a person says it: 40s, 3m, 2h, 4d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size:
            return f"{int(value // size)}{unit}"
    return f"{int(value)}s"


def runner(e: store.Execution, runners: Mapping[str, store.Runner], now: datetime) -> str:
    """Who holds an execution under way, and how fresh its heartbeat is: ``worker 812 · 1s``."""
    if e.status not in ACTIVE or e.runner is None:
        return ""
    # Runner ids: HOST:PID:RANDOM for workers, KIND:HOST:PID:RANDOM for the others.
    parts = e.runner.split(":")
    if len(parts) == 4:
        who = f"{parts[0]} {parts[2]}"
    elif len(parts) == 3:
        who = f"worker {parts[1]}"
    else:
        who = e.runner
    row = runners.get(e.runner)
    if row is None:
        return who
    return f"{who} · {seconds(max(0.0, (now - row.heartbeat_at).total_seconds()))}"


def summary(s: store.Stats, variables: Mapping[str, str]) -> Text:
    """The dashboard's numbers on one line, for a screen with no room for panels."""
    line = Text()
    line.append(f"{s.workflows} workflows ({s.active_workflows} on) · ")
    line.append(f"{s.running} running, {s.queued} queued · 24h: {s.succeeded} ok, ")
    line.append_text(
        coloured(f"{s.failed} failed", "error", variables) if s.failed else Text("0 failed")
    )
    line.append(f" ({percent(s.success_rate)}), avg {duration(s.average_duration_ms)}")
    return line


def params(values: Mapping[str, object]) -> str:
    """An execution's params as ``env=production n=3`` (what tells two runs apart)."""
    return " ".join(f"{key}={one_line(str(value))}" for key, value in values.items()) or "-"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def one_line(text: str | None) -> str:
    """An error or a prompt for a table cell: its lines joined (the table cuts its end)."""
    return " ".join((text or "").split())


BARS = "▁▂▃▄▅▆▇█"


def runs_strip(runs: store.LastRuns | None, variables: Mapping[str, str]) -> Text:
    """A workflow's last runs, oldest first, one symbol each: ✓✓✗✓ (coloured by outcome)."""
    if runs is None:
        return Text("-")
    out = Text()
    for value in runs.statuses:
        out.append_text(
            coloured(SYMBOLS.get(value, "?"), COLOURS.get(value, "foreground"), variables)
        )
    return out


def durations_strip(runs: store.LastRuns | None) -> str:
    """A sparkline of the last runs' durations (▁ to █, on the longest of them; · for a
    run with none yet)."""
    if runs is None or not runs.durations:
        return "-"
    longest = max((d for d in runs.durations if d is not None), default=0.0)
    if longest <= 0:
        return "".join("▁" if d is not None else "·" for d in runs.durations)
    return "".join(
        "·" if d is None else BARS[min(len(BARS) - 1, int(d / longest * (len(BARS) - 1) + 0.5))]
        for d in runs.durations
    )
