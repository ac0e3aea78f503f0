"""How the console shows times, durations and statuses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from rich.text import Text

from engine import definition
from engine.status import SYMBOLS, ExecutionStatus, StepStatus

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
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def duration(ms: float | None) -> str:
    return "-" if ms is None else definition.format_duration(ms / 1000)


def rich_colour(value: str) -> str:
    """A Textual colour as Rich understands it (``ansi_green`` is Rich's ``green``)."""
    return value.removeprefix("ansi_")


def status(value: str | None, variables: Mapping[str, str]) -> Text:
    if value is None:
        return Text("-")
    symbol, variable = SYMBOLS.get(value, "?"), COLOURS.get(value, "foreground")
    colour = variables.get(variable) or variables.get("foreground") or "default"
    if colour.startswith("#") and len(colour) == 9:  # drop an alpha channel
        colour = colour[:7]
    try:
        return Text(f"{symbol} {value}", style=rich_colour(colour))
    except Exception:  # an unparseable colour must not break a table
        return Text(f"{symbol} {value}")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
