"""Workflows: added from files (a changed file bumps the version), listed, enabled, removed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.errors import NotFound, StoreError
from engine.status import ACTIVE
from engine.store import search as search_
from engine.store.connection import Store, translate_errors
from engine.store.executions import keep_issued
from engine.store.records import Workflow, WorkflowSummary
from engine.store.tables import (
    EXECUTION,
    LOG_LINE,
    RUNNER,
    STEP_RUN,
    TALLY,
    WORKFLOW,
    WORKFLOW_READ,
    utcnow,
)

if TYPE_CHECKING:
    from engine import definition

w = WORKFLOW.c


@dataclass(frozen=True, slots=True)
class Saved:
    workflow: Workflow
    change: str  # "created" | "updated" | "unchanged"


def save_workflows(
    store: Store, items: Sequence[tuple[definition.Workflow, str | None]]
) -> list[Saved]:
    """Insert or update parsed workflows (with the path each came from), all or none.

    A changed definition bumps the version; an unchanged one is left alone. A ``workflow:``
    step must name a workflow added with it or stored, and the calls must not come back
    around: DefinitionError (file, line, field) otherwise, and nothing is saved.
    """
    from engine import definition
    from engine.definition import calls
    from engine.errors import DefinitionError

    results: list[Saved] = []
    now = utcnow()
    with translate_errors(store), store.writer.begin() as conn:
        # The rows it may change, locked first in id order (as a claim locks limited
        # workflows' rows): in the files' order, it could deadlock with a claim.
        conn.execute(
            sa.select(w.id)
            .where(w.name.in_(sorted({wf.name for wf, _path in items})))
            .order_by(w.id)
            .with_for_update(key_share=True)
        )

        def stored(name: str) -> definition.Workflow | None:
            row = conn.execute(sa.select(*WORKFLOW_READ).where(w.name == name)).mappings().first()
            return definition.parsed(Workflow.of(row)) if row is not None else None

        problems = calls.check([(wf, path or "<workflow>") for wf, path in items], stored)
        if problems:
            raise DefinitionError(problems)
        for wf, path in items:
            row = (
                conn.execute(sa.select(*WORKFLOW_READ).where(w.name == wf.name)).mappings().first()
            )
            schedule = wf.schedule.cron if wf.schedule else None
            if row is None:
                values: dict[str, Any] = {
                    "name": wf.name,
                    "description": wf.description,
                    "definition": wf.source,
                    "digest": wf.digest,
                    "version": 1,
                    "is_active": True,
                    "schedule": schedule,
                    "concurrency": wf.concurrency,
                    "source_path": path,
                    "created_at": now,
                    "updated_at": now,
                    "runs": 0,
                    "succeeded": 0,
                }
                new_id = conn.execute(WORKFLOW.insert().returning(w.id).values(values)).scalar_one()
                change = "created"
            elif row["digest"] != wf.digest:
                new_id = row["id"]
                conn.execute(
                    WORKFLOW.update()
                    .where(w.id == new_id)
                    .values(
                        definition=wf.source,
                        digest=wf.digest,
                        description=wf.description,
                        schedule=schedule,
                        concurrency=wf.concurrency,
                        source_path=path or row["source_path"],
                        version=w.version + 1,
                        updated_at=now,
                    )
                )
                change = "updated"
            else:
                results.append(Saved(Workflow.of(row), "unchanged"))
                continue
            fresh = conn.execute(sa.select(*WORKFLOW_READ).where(w.id == new_id)).mappings().one()
            results.append(Saved(Workflow.of(fresh), change))
    return results


def get_workflow(store: Store, name: str) -> Workflow:
    """Raises:
    NotFound: no workflow has that name.
    """
    with translate_errors(store), store.engine.connect() as conn:
        row = conn.execute(sa.select(*WORKFLOW_READ).where(w.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no workflow named {name!r}; `wfe workflow list` shows them")
    return Workflow.of(row)


WORKFLOW_ORDERS: dict[str, Any] = {"name": w.name, "active": w.is_active, "version": w.version}


def list_workflows(
    store: Store,
    *,
    offset: int = 0,
    limit: int = 50,
    search: str | None = None,
    order: str = "name",
    descending: bool = False,
) -> tuple[list[WorkflowSummary], int]:
    """A page of workflows by name (or ``order``, one of :data:`WORKFLOW_ORDERS`) with
    their last run, and the total count; ``search`` matches names
    fuzzily (:mod:`.search`)."""
    where = [search_.fuzzy(search, (w.name,))] if search else []
    if order not in WORKFLOW_ORDERS:
        raise ValueError(f"no order {order!r}; one of {', '.join(WORKFLOW_ORDERS)}")
    column = WORKFLOW_ORDERS[order]
    e = EXECUTION.c
    with translate_errors(store), store.engine.connect() as conn:
        rows = [
            Workflow.of(r)
            for r in conn.execute(
                sa.select(*WORKFLOW_READ)
                .where(*where)
                .order_by(column.desc() if descending else column.asc(), w.name)
                .offset(offset)
                .limit(limit)
            ).mappings()
        ]
        total = conn.execute(sa.select(sa.func.count()).select_from(WORKFLOW).where(*where))
        count = int(total.scalar_one())
        last_ids = [r.last_execution_id for r in rows if r.last_execution_id is not None]
        last = {
            wid: (status, when)
            for wid, status, when in conn.execute(
                sa.select(e.workflow_id, e.status, e.queued_at).where(e.id.in_(last_ids))
            )
        }
    summaries = []
    for row in rows:
        last_status, last_at = last.get(row.id) or (None, None)
        summaries.append(WorkflowSummary(row, last_status, last_at))
    return summaries, count


def set_active(store: Store, name: str, active: bool) -> Workflow:
    """Enable or disable a workflow (a disabled one does not run; its history stays)."""
    with translate_errors(store), store.writer.begin() as conn:
        done = conn.execute(
            WORKFLOW.update().where(w.name == name).values(is_active=active, updated_at=utcnow())
        )
        if not done.rowcount:
            raise NotFound(f"no workflow named {name!r}")
        row = conn.execute(sa.select(*WORKFLOW_READ).where(w.name == name)).mappings().one()
    return Workflow.of(row)


def remove_workflow(store: Store, name: str) -> int:
    """Delete a workflow with its executions, steps and logs; returns executions removed.

    Refused while one of its executions is queued or running.
    """
    e = EXECUTION.c
    with translate_errors(store), store.writer.begin() as conn:
        workflow_id = conn.execute(sa.select(w.id).where(w.name == name)).scalar_one_or_none()
        if workflow_id is None:
            raise NotFound(f"no workflow named {name!r}")
        busy = conn.execute(
            sa.select(sa.func.count())
            .select_from(EXECUTION)
            .where(e.workflow_id == workflow_id, e.status.in_(ACTIVE))
        ).scalar_one()
        if busy:
            raise StoreError(
                f"workflow {name!r} has {busy} execution(s) queued or running; cancel them first"
            )
        ids = sa.select(e.id).where(e.workflow_id == workflow_id)
        keep_issued(store, conn)
        conn.execute(LOG_LINE.delete().where(LOG_LINE.c.execution_id.in_(ids)))
        conn.execute(STEP_RUN.delete().where(STEP_RUN.c.execution_id.in_(ids)))
        removed = conn.execute(EXECUTION.delete().where(e.workflow_id == workflow_id)).rowcount
        conn.execute(TALLY.delete().where(TALLY.c.workflow_id == workflow_id))
        conn.execute(WORKFLOW.delete().where(w.id == workflow_id))
    return int(removed or 0)


def fold_tallies(store: Store) -> int:
    """Fold the tally rows of every runner not alive now (stopped, gone, its lease run
    out) into their workflows' rows; how many rows were folded."""
    with translate_errors(store), store.writer.begin() as conn:
        return fold_in(conn)


def fold_in(conn: sa.Connection, runner: str | None = None) -> int:
    """:func:`fold_tallies` in the caller's transaction (``runner``: only its rows, as
    it stops).

    Each row is locked as it is read and deleted by its key once added, so what a
    runner adds meanwhile (a new row, or to a row after this commits) is kept for a
    later fold: a count is never lost nor added twice, and a workflow read meanwhile
    shows the same sums before and after.
    """
    t = TALLY.c
    if runner is not None:
        which = t.runner == runner
    else:
        r = RUNNER.c
        alive = sa.select(r.id).where(r.stopped_at.is_(None), r.expires_at >= utcnow())
        which = t.runner.not_in(alive)
    rows = conn.execute(
        sa.select(t.workflow_id, t.runner, t.runs, t.succeeded)
        .where(which)
        .order_by(t.workflow_id, t.runner)
        .with_for_update()
    ).all()
    if not rows:
        return 0
    sums: dict[int, list[int]] = {}
    for workflow_id, _runner, runs, succeeded in rows:
        counts = sums.setdefault(workflow_id, [0, 0])
        counts[0] += runs
        counts[1] += succeeded
    conn.execute(
        WORKFLOW.update()
        .where(w.id == sa.bindparam("k_id"))
        .values(runs=w.runs + sa.bindparam("k_runs"), succeeded=w.succeeded + sa.bindparam("k_ok")),
        [{"k_id": k, "k_runs": v[0], "k_ok": v[1]} for k, v in sorted(sums.items())],
    )
    conn.execute(
        TALLY.delete().where(
            t.workflow_id == sa.bindparam("k_id"), t.runner == sa.bindparam("k_runner")
        ),
        [{"k_id": workflow_id, "k_runner": who} for workflow_id, who, _, _ in rows],
    )
    return len(rows)
