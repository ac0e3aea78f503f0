"""Step runs: each attempt of each step of an execution, read whole or a page at a time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from engine.status import UNDER_WAY
from engine.store.connection import Store, translate_errors
from engine.store.records import StepRun
from engine.store.tables import STEP_RUN

s = STEP_RUN.c


def is_item(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """Whether a step run is one item of a foreach step (``ID[label]``; a step id has no
    ``[``): the steps' own views leave items out and count them under their step."""
    return column.contains("[", autoescape=True)


def step_runs(
    store: Store, execution_id: int, *, latest_only: bool = False, items: bool = True
) -> list[StepRun]:
    """An execution's step runs in file order (``latest_only``: each step's last attempt;
    without ``items``, a foreach step's runs of its items are left out)."""
    where = [s.execution_id == execution_id]
    if not items:
        where.append(~is_item(s.step_id))
    with translate_errors(store), store.engine.connect() as conn:
        rows = [
            StepRun.of(r)
            for r in conn.execute(
                sa.select(STEP_RUN).where(*where).order_by(s.position, s.id)
            ).mappings()
        ]
    return last_attempts(rows) if latest_only else rows


def step_statuses(store: Store, execution_id: int) -> dict[str, str]:
    """Each recorded step's status (of its last attempt), in file order: two columns
    read, for a view that shows only where each step stands (the console's graph)."""
    with translate_errors(store), store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(s.step_id, s.status)
            .where(s.execution_id == execution_id, ~is_item(s.step_id))
            .order_by(s.position, s.id)
        ).all()
    return {step_id: status for step_id, status in rows}  # the last attempt's wins


def last_attempts(rows: Iterable[StepRun]) -> list[StepRun]:
    """Each step's last attempt, from runs in the order they were first recorded."""
    last: dict[str, StepRun] = {}
    for r in rows:
        last[r.step_id] = r
    return list(last.values())


@dataclass(frozen=True, slots=True)
class StepWindow:
    """A page of an execution's steps, and where the whole execution stands."""

    runs: list[StepRun]  # the last attempt of each step in the page, in file order
    counts: dict[str, int]  # steps by status (their last attempt), over the execution
    first_active: int | None  # position of the first step running or waiting, if any
    # The items of each foreach step in the page recorded so far, by status.
    items: dict[str, dict[str, int]] = field(default_factory=dict)


def step_window(
    store: Store, execution_id: int, *, start: int, limit: int, tally: bool = True
) -> StepWindow:
    """Steps at positions ``start`` to ``start + limit``, with the execution's tallies
    (items of foreach steps counted under their step, never read one by one).

    Indexed queries however many steps the execution has: a console showing a 10,000-step
    execution reads a page, not the lot. The tally still counts every step (some 30 ms
    for 10,000): without ``tally`` it is left empty.
    """
    later = STEP_RUN.alias("later")
    last_attempt = ~sa.exists().where(
        later.c.execution_id == s.execution_id,
        later.c.step_id == s.step_id,
        later.c.attempt > s.attempt,
    )
    with translate_errors(store), store.engine.connect() as conn:  # one snapshot
        counts = (
            {
                status: int(n)
                for status, n in conn.execute(
                    sa.select(s.status, sa.func.count())
                    .where(s.execution_id == execution_id, last_attempt, ~is_item(s.step_id))
                    .group_by(s.status)
                )
            }
            if tally
            else {}
        )
        first_active = conn.execute(
            sa.select(sa.func.min(s.position)).where(
                s.execution_id == execution_id, s.status.in_(UNDER_WAY)
            )
        ).scalar_one_or_none()
        rows = [
            StepRun.of(r)
            for r in conn.execute(
                sa.select(STEP_RUN)
                .where(
                    s.execution_id == execution_id,
                    s.position >= start,
                    s.position < start + limit,
                    ~is_item(s.step_id),
                )
                .order_by(s.position, s.id)
            ).mappings()
        ]
        runs = last_attempts(rows)
        items: dict[str, dict[str, int]] = {}
        fanned = {r.position: r.step_id for r in runs}  # a foreach step, if its items ran
        if fanned:
            for position, state, n in conn.execute(
                sa.select(s.position, s.status, sa.func.count())
                .where(
                    s.execution_id == execution_id,
                    s.position >= start,
                    s.position < start + limit,
                    is_item(s.step_id),
                    last_attempt,
                )
                .group_by(s.position, s.status)
            ):
                if position in fanned:
                    items.setdefault(fanned[position], {})[state] = int(n)
    return StepWindow(runs, counts, first_active, items)
