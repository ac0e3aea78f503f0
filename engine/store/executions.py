"""Executions: queued, read, listed newest first, cancelled, re-run and pruned."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from engine.errors import NotFound
from engine.status import FINISHED, ExecutionStatus, StepStatus
from engine.store import search as search_
from engine.store import wakeups
from engine.store.connection import Store, translate_errors
from engine.store.records import Execution, Workflow
from engine.store.tables import (
    ACTIVITY,
    EXECUTION,
    LOG_LINE,
    META,
    STEP_MARK,
    STEP_RUN,
    WORKFLOW,
    utcnow,
)

e = EXECUTION.c


def create_execution(
    store: Store, workflow: Workflow, params: Mapping[str, Any], trigger: str = "manual"
) -> Execution:
    """Queue one execution of ``workflow`` (a runner claims it)."""
    return create_executions(store, workflow, [params], trigger)[0]


def create_executions(
    store: Store,
    workflow: Workflow,
    params: Sequence[Mapping[str, Any]],
    trigger: str = "manual",
    *,
    owner: str | None = None,
    parent: tuple[int, str] | None = None,
    also: Callable[[sa.Connection, list[Execution]], None] | None = None,
) -> list[Execution]:
    """Queue executions of one workflow in one transaction (``owner``: already claimed;
    ``parent``: the execution and step that start them, for child executions; ``also``:
    what else that transaction writes for them, before any runner can claim them)."""
    now = utcnow()
    values = [
        {
            "workflow_id": workflow.id,
            "workflow_name": workflow.name,
            "version": workflow.version,
            "params": dict(p),
            "status": ExecutionStatus.QUEUED.value,
            "trigger": trigger,
            "cancel_requested": False,
            "worker": owner,
            "queued_at": now,
            "parent_id": parent[0] if parent else None,
            "parent_step": parent[1] if parent else None,
        }
        for p in params
    ]
    if also is None:  # in one statement, where the store can
        with translate_errors(store):
            queued = store.dialect.queue(store.engine, EXECUTION, values, wake=owner is None)
        if queued is not None:
            return [Execution.of(r) for r in queued]
    with translate_errors(store), store.writer.begin() as conn:
        number_after_deleted(store, conn, values)
        rows = conn.execute(
            EXECUTION.insert().returning(*EXECUTION.c, sort_by_parameter_order=True), values
        ).mappings()
        made = [Execution.of(r) for r in rows]
        if also is not None:
            also(conn, made)
        conn.execute(
            WORKFLOW.update()
            .where(WORKFLOW.c.id == workflow.id)
            .values(last_execution_id=max(x.id for x in made))
        )
        # Queued for any runner: the idle ones hear of it now.
        told = owner is not None or wakeups.notify_in(store, conn)
    if not told:
        wakeups.notify(store)
    return made


def queue_many(
    store: Store, workflow: Workflow, params: Sequence[Mapping[str, Any]], trigger: str
) -> list[int]:
    """Queue executions of one workflow in one transaction, as :func:`create_executions`
    does, returning only their ids: ``wfe run --detach --params-from`` queues thousands."""
    now = utcnow()
    values = [
        {
            "workflow_id": workflow.id,
            "workflow_name": workflow.name,
            "version": workflow.version,
            "params": p,
            "status": ExecutionStatus.QUEUED.value,
            "trigger": trigger,
            "cancel_requested": False,
            "queued_at": now,
        }
        for p in params
    ]
    if not values:
        return []
    with translate_errors(store), store.writer.begin() as conn:
        number_after_deleted(store, conn, values)
        ids = list(
            conn.execute(
                EXECUTION.insert().returning(e.id, sort_by_parameter_order=True), values
            ).scalars()
        )
        conn.execute(
            WORKFLOW.update().where(WORKFLOW.c.id == workflow.id).values(last_execution_id=max(ids))
        )
        told = wakeups.notify_in(store, conn)
    if not told:
        wakeups.notify(store)
    return ids


ISSUED = "execution_ids_issued"  # wfe_meta: the highest execution id ever given, once deleted


def number_after_deleted(store: Store, conn: sa.Connection, values: list[dict[str, Any]]) -> None:
    """Number new executions after every id ever given, deleted ones included.

    Where the database would give a deleted id again (SQLite's ``max(rowid) + 1``), the
    highest id deleted is kept (:func:`keep_issued`): a new execution starts after it, so
    an id in a log, a page or a notification always means the same execution.
    """
    if not store.dialect.reuses_ids:
        return
    issued = conn.execute(sa.select(META.c.value).where(META.c.key == ISSUED)).scalar()
    if issued is None:
        return
    top = conn.execute(sa.select(sa.func.max(e.id))).scalar() or 0
    if int(issued) > top:
        for i, row in enumerate(values, start=int(issued) + 1):
            row["id"] = i


def keep_issued(store: Store, conn: sa.Connection) -> None:
    """Before executions are deleted: remember the highest id given so far (see above)."""
    if not store.dialect.reuses_ids:
        return
    top = conn.execute(sa.select(sa.func.max(e.id))).scalar()
    if top is None:
        return
    m = META.c
    known = conn.execute(sa.select(m.value).where(m.key == ISSUED)).scalar()
    if known is None:
        conn.execute(META.insert().values(key=ISSUED, value=str(top)))
    elif int(known) < top:
        conn.execute(META.update().where(m.key == ISSUED).values(value=str(top)))


def get_execution(store: Store, execution_id: int) -> Execution:
    """Raises:
    NotFound: there is no such execution.
    """
    with translate_errors(store), store.engine.connect() as conn:
        row = conn.execute(sa.select(EXECUTION).where(e.id == execution_id)).mappings().first()
    if row is None:
        raise NotFound(f"no execution {execution_id}; `wfe executions list` shows them")
    return Execution.of(row)


def list_executions(
    store: Store,
    *,
    status: str | None = None,
    workflow: str | None = None,
    offset: int = 0,
    limit: int = 50,
    search: str | None = None,
    order: str = "id",
    descending: bool = True,
) -> tuple[list[Execution], int]:
    """Newest first (or by ``order``, one of :data:`EXECUTION_ORDERS`), with the total
    that matches (for a pager); ties go newest first.

    ``workflow`` is a name; ``search`` the console's filter: words that each match a
    workflow's name, the status, the trigger or the error, fuzzily (:mod:`.search`).
    """
    where = _filter(status, workflow)
    if search:
        where.append(search_.fuzzy(search, (e.workflow_name, e.status, e.trigger, e.error)))
    query = _newest(where, offset, limit)
    if order != "id" or not descending:
        if order not in EXECUTION_ORDERS:
            raise ValueError(f"no order {order!r}; one of {', '.join(EXECUTION_ORDERS)}")
        column = EXECUTION_ORDERS[order]
        first = column.desc() if descending else column.asc()
        # NULLs (not started, still running) last either way.
        query = query.order_by(None).order_by(column.is_(None), first, e.id.desc())
    with translate_errors(store), store.engine.connect() as conn:
        rows = [Execution.of(r) for r in conn.execute(query).mappings()]
        total = conn.execute(sa.select(sa.func.count()).select_from(EXECUTION).where(*where))
        return rows, int(total.scalar_one())


def recent_executions(
    store: Store,
    *,
    status: str | None = None,
    workflow: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> list[Execution]:
    """Newest first, without counting them all: on PostgreSQL a count of a million rows
    costs ~50 ms, the rows themselves well under one (the dashboard's table)."""
    where = _filter(status, workflow)
    with translate_errors(store), store.engine.connect() as conn:
        return [Execution.of(r) for r in conn.execute(_newest(where, offset, limit)).mappings()]


# What a list of executions can be sorted by: a name for each column.
EXECUTION_ORDERS: dict[str, Any] = {
    "id": e.id,
    "workflow": e.workflow_name,
    "status": e.status,
    "started": e.started_at,
    "duration": e.duration_ms,
    "trigger": e.trigger,
}


def _newest(where: list[Any], offset: int, limit: int) -> sa.Select[Any]:
    return sa.select(EXECUTION).where(*where).order_by(e.id.desc()).offset(offset).limit(limit)


def _filter(status: str | None, workflow: str | None) -> list[Any]:
    where = []
    if status:
        where.append(e.status == status)
    if workflow:
        where.append(e.workflow_name == workflow)
    return where


def request_cancel(store: Store, execution_id: int) -> str:
    """Ask for an execution to stop. A queued one is cancelled at once.

    Returns the status it had: a finished execution is left as it is.
    """
    with translate_errors(store), store.writer.begin() as conn:
        previous = conn.execute(sa.select(e.status).where(e.id == execution_id)).scalar()
        if previous is None:
            raise NotFound(f"no execution {execution_id}")
        if previous == ExecutionStatus.QUEUED:
            # (Asked for too: a runner may have started it already, its start not yet
            # committed, which would then record it running again; it stops at its
            # runner's next look, instead of running on with nobody told.)
            conn.execute(
                EXECUTION.update()
                .where(e.id == execution_id)
                .values(
                    status=ExecutionStatus.CANCELLED,
                    finished_at=utcnow(),
                    error="cancelled before it started",
                    cancel_requested=True,
                )
            )
        elif previous == ExecutionStatus.RUNNING:
            conn.execute(
                EXECUTION.update().where(e.id == execution_id).values(cancel_requested=True)
            )
    return str(previous)


def cancel_requested(store: Store, ids: Iterable[int]) -> list[int]:
    """Those of ``ids`` whose cancellation someone asked for."""
    ids = list(ids)
    if not ids:
        return []
    with translate_errors(store), store.engine.connect() as conn:
        return list(
            conn.execute(sa.select(e.id).where(e.id.in_(ids), e.cancel_requested)).scalars()
        )


def rerun(
    store: Store, execution_id: int, reuse: Collection[str] = (), *, any_result: bool = False
) -> Execution:
    """Queue a new execution of the same workflow with the same params.

    The steps named in ``reuse`` keep the results they had (with their foreach items), if
    they succeeded or were skipped (``any_result``: whatever they were, once ended):
    copied, never run again; the executor resumes after them.
    """
    from engine.store.attempts import step_runs
    from engine.store.workflows import get_workflow

    old = get_execution(store, execution_id)
    workflow = get_workflow(store, old.workflow_name)
    kept_statuses = FINISHED_STEPS if any_result else (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
    kept = [
        r
        for r in step_runs(store, execution_id, latest_only=True)
        if r.step_id.partition("[")[0] in reuse and r.status in kept_statuses
    ]

    def reused(conn: sa.Connection, made: list[Execution]) -> None:
        # In the transaction that queues it: a runner that claims it finds them there.
        if not kept:
            return
        conn.execute(
            STEP_RUN.insert(),
            [
                {
                    "execution_id": made[0].id,
                    "step_id": r.step_id,
                    "position": r.position,
                    "attempt": 1,
                    "status": r.status,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "duration_ms": r.duration_ms,
                    "exit_code": r.exit_code,
                    "output": r.output,
                    "outputs": r.outputs,
                    "error": f"reused from execution {execution_id}"
                    + (f": {r.error}" if r.error else ""),
                }
                for r in kept
            ],
        )

    (new,) = create_executions(
        store, workflow, [old.params], trigger=f"rerun of {execution_id}", also=reused
    )
    return new


FINISHED_STEPS = (
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
    StepStatus.CANCELLED,
    StepStatus.TIMED_OUT,
)
ACTIVITY_KEPT = 86400  # seconds of the store-wide throughput kept (see tables.ActivityRow)


def prune(store: Store, *, older_than: float, batch: int = 1000) -> int:
    """Delete executions finished more than ``older_than`` seconds ago, in batches (and
    the throughput counts older than a day; the tallies of runners gone are folded)."""
    from engine.store.trends import forget_settled
    from engine.store.workflows import fold_in

    forget_settled()  # the charts' ended buckets lose what this deletes
    cutoff = utcnow() - timedelta(seconds=older_than)
    with translate_errors(store), store.writer.begin() as conn:
        old = int(utcnow().timestamp()) - ACTIVITY_KEPT
        conn.execute(ACTIVITY.delete().where(ACTIVITY.c.second < old))
        fold_in(conn)  # the tallies of runners gone since
    removed = 0
    while True:
        with translate_errors(store), store.writer.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(e.id)
                    .where(e.status.in_(FINISHED), e.finished_at < cutoff)
                    .order_by(e.id)
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return removed
            keep_issued(store, conn)
            conn.execute(LOG_LINE.delete().where(LOG_LINE.c.execution_id.in_(ids)))
            conn.execute(STEP_MARK.delete().where(STEP_MARK.c.execution_id.in_(ids)))
            conn.execute(STEP_RUN.delete().where(STEP_RUN.c.execution_id.in_(ids)))
            conn.execute(EXECUTION.delete().where(e.id.in_(ids)))
        removed += len(ids)


def get_executions(store: Store, ids: Sequence[int]) -> dict[int, Execution]:
    """The executions of ``ids`` that exist, by id, in one query."""
    if not ids:
        return {}
    with translate_errors(store), store.engine.connect() as conn:
        return {
            r["id"]: Execution.of(r)
            for r in conn.execute(sa.select(EXECUTION).where(e.id.in_(list(ids)))).mappings()
        }


def children(store: Store, execution_id: int) -> list[Execution]:
    """The child executions its ``workflow:`` steps started, oldest first."""
    with translate_errors(store), store.engine.connect() as conn:
        return [
            Execution.of(r)
            for r in conn.execute(
                sa.select(EXECUTION).where(e.parent_id == execution_id).order_by(e.id)
            ).mappings()
        ]
