"""How the command line shows things: tables, JSON, times, durations and statuses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from engine.status import SYMBOLS, ExecutionStatus, StepStatus

if TYPE_CHECKING:
    from engine import store

COLOURS: dict[str, str] = {
    ExecutionStatus.SUCCEEDED: "green",
    ExecutionStatus.FAILED: "red",
    ExecutionStatus.TIMED_OUT: "red",
    ExecutionStatus.CANCELLED: "yellow",
    StepStatus.SKIPPED: "bright_black",
    ExecutionStatus.RUNNING: "cyan",
    ExecutionStatus.QUEUED: "bright_black",
    StepStatus.PENDING: "bright_black",
    StepStatus.WAITING: "magenta",
}
STREAM_COLOUR = {"stderr": "red", "system": "bright_black"}


def log_text(line: store.LogLine) -> str:
    """A log line as `wfe logs` prints it (and the console saves it): time, step, text."""
    when = line.time.astimezone().strftime("%H:%M:%S.%f")[:-3]
    return f"{when} {line.step_id or '-':<12} {line.text}"


def local(when: datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ms(value: float | None) -> str:
    from engine.definition.durations import format_duration

    return "-" if value is None else format_duration(value / 1000)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    click.secho(
        "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        bold=True,
    )
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def as_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def more(total: int, offset: int, shown: int, hint: str) -> None:
    """Say on stderr how many rows the page did not show, and how to see them."""
    if offset + shown < total:
        click.echo(f"… {total - offset - shown} more; {hint} --offset {offset + shown}", err=True)


def status(value: str | None) -> str:
    if value is None:
        return "-"
    return click.style(plain_status(value), fg=COLOURS.get(value, "white"))


def plain_status(value: str | None) -> str:
    if value is None:
        return "-"
    return f"{SYMBOLS.get(value, '?')} {value}"


def short(value: Any) -> str:
    """A value on one line (an output or an error)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("\n", " ⏎ ")
