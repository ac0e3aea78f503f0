"""The execution screen's log, line by line: what a line holds, which lines show, how
each is drawn, and what the empty log and the state line under it say.

Output is plain text; stderr is marked ``!``, which survives NO_COLOR where a colour
would not. Everything here is a pure function of what it is given, so it is tested
without a screen (``tests/console/test_execution_log.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from rich.text import Text

from console import format
from engine import status

if TYPE_CHECKING:
    from engine import store

SKIPPED = "skipped"  # the stream of the line that says lines are not shown
STDERR_MARK = "! "  # before each stderr line; other lines get as many spaces
STEP_WIDTH = 12  # the step column of the log


class Entry(NamedTuple):
    """A log line as the screen holds it (``time`` is None for the screen's own notes)."""

    seq: int
    step_id: str | None
    stream: str
    text: str
    time: datetime | None


def entry(line: store.LogLine) -> Entry:
    return Entry(line.seq, line.step_id, line.stream, line.text, line.time)


def skipped(seq: int, n: int, execution_id: int) -> Entry:
    """The note that ``n`` lines before ``seq`` are not shown, and how to see them."""
    text = f"[{n:,} lines not shown here: g on the log loads earlier ones;"
    text += f" wfe logs {execution_id} prints them all]"
    return Entry(seq, None, SKIPPED, text, None)


def hit(text: str, pattern: str) -> bool:
    """Whether a line matches the search: it holds the pattern (any case), or with
    ``!pattern`` it does not (the lines that are not noise)."""
    if pattern.startswith("!") and len(pattern) > 1:
        return pattern[1:].lower() not in text.lower()
    return pattern.lower() in text.lower()


def of_step(step_id: str | None, wanted: str) -> bool:
    """Whether a line is the step's: its own, or one of its items' (``ID[…]``)."""
    return step_id == wanted or (step_id is not None and step_id.startswith(f"{wanted}["))


def shows(e: Entry, *, step_filter: str | None, pattern: str | None, only_matching: bool) -> bool:
    """Whether the log shows ``e``: of the step selected (a foreach step's items with it),
    and matching if only matches show."""
    if step_filter is not None and not of_step(e.step_id, step_filter):
        return False
    if only_matching and pattern:
        return hit(e.text, pattern)
    return True


def matches(shown: Iterable[Entry | None], pattern: str | None) -> list[int]:
    """The places among the lines ``shown`` of those the search matches (None: a
    separator, never a match)."""
    if not pattern:
        return []
    return [i for i, e in enumerate(shown) if e is not None and hit(e.text, pattern)]


def visible(
    held: Iterable[Entry],
    *,
    step_filter: str | None,
    pattern: str | None,
    only_matching: bool,
    context: int,
) -> list[Entry | None]:
    """The lines the log shows of those ``held``: the step's, the matches only, or the
    matches with ``context`` lines around each (None between groups, as grep's ``--``)."""
    if context and only_matching and pattern:
        of_step = [e for e in held if step_filter is None or e.step_id == step_filter]
        return around(of_step, pattern, context)
    return [
        e
        for e in held
        if shows(e, step_filter=step_filter, pattern=pattern, only_matching=only_matching)
    ]


CONTEXTS = (0, 2, 5, 10)  # lines around each match that `C` cycles through
SEPARATOR = "--"  # between two groups of matches and their context, as grep prints it


def around(shown: Sequence[Entry], pattern: str, n: int) -> list[Entry | None]:
    """The matching lines with ``n`` lines before and after each, as ``grep -C n``: a
    line shows once however many matches it is near, and None stands where lines were
    left out between two groups."""
    keep = [False] * len(shown)
    for i in matches(shown, pattern):
        for j in range(max(0, i - n), min(len(shown), i + n + 1)):
            keep[j] = True
    out: list[Entry | None] = []
    last = -1
    for i, kept in enumerate(keep):
        if kept:
            if out and i != last + 1:
                out.append(None)
            out.append(shown[i])
            last = i
    return out


def format_line(
    e: Entry, variables: Mapping[str, str], *, show_times: bool, pattern: str | None
) -> Text:
    """One line: its time (``t``), its step, a mark for stderr, then the text.

    Only the step and the engine's own lines are dim: output reads as normal text,
    and stderr's ``!`` tells it from stdout with no colour at all.
    """
    mark, style = Text(" " * len(STDERR_MARK)), ""
    if e.stream == "stderr":
        style = format.rich_colour(variables.get("error", "red"))
        mark = Text(STDERR_MARK, style=f"bold {style}")
    elif e.stream in ("system", SKIPPED):
        style = "dim"
    when = ""
    if show_times:
        # As `wfe logs` shows it: the local time, to the millisecond.
        when = e.time.astimezone().strftime("%H:%M:%S.%f")[:-3] if e.time else ""
        when = f"{when:<12} "
    line = Text.assemble(
        (when, "dim"),
        (f"{(e.step_id or '-'):<{STEP_WIDTH}} ", "dim"),
        mark,
        (e.text, style),
    )
    if pattern and not pattern.startswith("!"):
        line.highlight_words([pattern], style="reverse", case_sensitive=False)
    return line


def hint(
    held: Collection[Entry],
    step_status: Mapping[str, str],
    *,
    step_filter: str | None,
    pattern: str | None,
    only_matching: bool,
) -> str | None:
    """What the log says while it is empty because a step has printed nothing yet.

    ``held`` is the lines the screen holds, ``step_status`` the steps on the page shown.
    An empty log alone cannot tell "no output yet" from "not read yet" or "stuck".
    """
    if only_matching and pattern:
        return None  # empty for the search's sake
    if step_filter is not None:
        if any(e.step_id == step_filter for e in held):
            return None
        steps = [step_filter]
    elif held:
        return None
    else:
        steps = list(step_status)
    running = [s for s in steps if step_status.get(s) == status.StepStatus.RUNNING]
    waiting = [s for s in steps if step_status.get(s) == status.StepStatus.WAITING]
    if len(running) == 1:
        return f"step {running[0]} is running; no output yet"
    if running:
        more = ", …" if len(running) > 3 else ""
        return f"steps {', '.join(running[:3])}{more} are running; no output yet"
    if waiting:
        return f"step {waiting[0]} waits for approval: A approves, X rejects"
    return None


def state(
    *,
    follow: bool,
    wrap: bool,
    show_times: bool,
    step_filter: str | None,
    pattern: str | None,
    only_matching: bool,
    found: tuple[int, int] | None = None,
    context: int = 0,
) -> str:
    """The line under the log: how it is shown, and what narrows it.

    ``found``: the match the cursor is on (from 1; 0 before ``n``) and how many there are.
    """
    parts = [
        "following" if follow else "paused (f follows)",
        "wrapped" if wrap else "not wrapped",
    ]
    if show_times:
        parts.append("times")
    if step_filter:
        parts.append(f"step {step_filter}")
    if pattern:
        search = f"search {pattern!r}"
        if found is not None:
            at, total = found
            search += f": {at} of {total:,}" if at else f": {total:,} lines"
        if only_matching:
            search += f", matches only ±{context} lines (C)" if context else ", matches only"
        parts.append(search)
    parts.append(f"{STDERR_MARK.strip()} marks stderr")
    return " · ".join(parts)
