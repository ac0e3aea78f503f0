"""The execution screen's steps table, row by row: a step's status, attempt and duration.

Pure functions, tested without a screen (``tests/console/test_execution_steps.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from console import format
from console.widgets import tables
from engine import status

if TYPE_CHECKING:
    from engine import store


def rows(
    order: Iterable[str],
    runs: Mapping[str, store.StepRun],
    attempts: Mapping[str, int],
    variables: Mapping[str, str],
    now: datetime,
    items: Mapping[str, Mapping[str, int]] | None = None,
    children: Mapping[str, store.Execution] | None = None,
) -> list[tables.Row]:
    """A row for each step in ``order``, from its latest run; one not run yet is pending.

    ``attempts`` is each step's attempts as its definition says (see :func:`attempt`);
    ``items``, a foreach step's items by status, shows where its error would, as does
    the child execution a workflow: step started (``children``; Enter opens it).
    """
    items = items or {}
    children = children or {}
    table_rows: list[tables.Row] = []
    for step_id in order:
        r = runs.get(step_id)
        if r is None:
            pending = format.status(status.StepStatus.PENDING, variables)
            table_rows.append((step_id, [step_id, pending, "", "", "", "", ""]))
            continue
        table_rows.append(
            (
                step_id,
                [
                    step_id,
                    format.status(r.status, variables),
                    attempt(r, attempts.get(r.step_id)),
                    format.ago(r.started_at, now),
                    took(r.duration_ms, r.started_at, r.status, now),
                    "-" if r.exit_code is None else str(r.exit_code),
                    (
                        r.error
                        or child_link(children.get(step_id))
                        or item_tally(items.get(step_id), r.output)
                    )[:60],
                ],
            )
        )
    return table_rows


ITEM_MARKS = (
    ("succeeded", "✓"),
    ("failed", "✗"),
    ("timed_out", "⏱"),
    ("running", "▶"),
    ("waiting", "…"),
    ("skipped", "-"),
    ("cancelled", "⊘"),
    ("pending", "·"),
)


def child_link(child: store.Execution | None) -> str:
    """Where a workflow: step's child is: ``→ execution 12 ▶ running (Enter)``."""
    if child is None:
        return ""
    return f"→ execution {child.id} {child.status.replace('_', ' ')} (Enter opens it)"


def item_tally(counts: Mapping[str, int] | None, output: object = None) -> str:
    """A foreach step's items so far: ``12 items: ✓10 ✗1 ▶1``, or ``3 of 12 items: ▶3``
    while some have not started (a running foreach step's output says how many)."""
    if not counts:
        return ""
    marks = " ".join(f"{mark}{counts[name]:,}" for name, mark in ITEM_MARKS if counts.get(name))
    seen = sum(counts.values())
    total = output.get("items") if isinstance(output, dict) else None
    if isinstance(total, int) and total > seen:
        return f"{seen:,} of {total:,} items: {marks}"
    return f"{seen:,} items: {marks}"


def attempt(r: store.StepRun, limit: int | None) -> str:
    """Which attempt this is, as a person would say it (``limit``: its definition's).

    Blank for a step that never ran (skipped); "2 of 3" against its retries; past its
    retries only a take-over (its runner died mid-attempt) can have brought it.
    """
    if r.status == status.StepStatus.SKIPPED or r.started_at is None:
        return ""
    if limit is None or (limit == 1 and r.attempt == 1):
        return str(r.attempt)
    if r.attempt > limit:
        return f"{r.attempt} (taken over)"
    return f"{r.attempt} of {limit}"


def took(ms: float | None, started: datetime | None, state: str, now: datetime) -> str:
    """A duration; for one still under way, so far (live, as the clock moves)."""
    if ms is None and started is not None and state in status.UNDER_WAY | status.ACTIVE:
        ms = max(0.0, (now - started).total_seconds() * 1000)
    return format.duration(ms)
