"""Stopping executions from outside their steps.

Another process asks for a cancel (``wfe cancel``), another runner takes an execution
over once this one's lease lapsed, or the database refuses an execution's records: each
ends the execution here, through :meth:`Executor.cancel` or its cancel scope.
:mod:`.takeover` is the other side of a take-over: the runner that resumes the execution.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from engine import store
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.runtime.executor import Executor
    from engine.runtime.run import Run

logger = logging.getLogger(__name__)


async def holds(ex: Executor, run: Run) -> bool:
    """Whether this runner still holds ``run``: asked before each step starts.

    While its heartbeats go through nobody can have taken the execution over; after
    a silence (a pause, SIGSTOP, a store out of reach) the store is asked, and an
    execution another runner took is abandoned here: cancelled, its processes ended.

    The lease is renewed before the store is asked: a take-over and a renewal are both
    writing transactions, one after the other. Asked first, the store could say "yours"
    and a runner that found the lease lapsed take it the next moment, while the step
    starts here (two runners running one execution's steps at once).
    """
    session = ex.session
    while session is not None and not session.in_touch():
        try:
            await session.beat()
            held = await trio.to_thread.run_sync(
                lambda: store.held_by(ex.store, session.id, [run.id])
            )
        except EngineError:  # out of reach: wait (the heartbeat gives up after a lease)
            await trio.sleep(session.heartbeat_interval)
            continue
        if run.id not in held:
            lost(ex, {run.id})
            return False
        break
    return True


async def confirm(ex: Executor) -> bool:
    """After a silence: stop at once the executions another runner took over.

    False if the store could not be asked (each step about to start asks again).
    """
    ids = set(ex._runs)
    if ex.session is None or not ids:
        return True
    try:
        held = await trio.to_thread.run_sync(lambda: store.held_by(ex.store, ex.owner or "", ids))
    except EngineError:
        return False
    lost(ex, ids - held)
    return True


def refused(ex: Executor, execution_id: int, why: str) -> None:
    """The database refused this execution's records: it fails, and stops here."""
    run = ex._runs.get(execution_id)
    if run is not None:
        run.refused = why
        run.scope.cancel()


def lost(ex: Executor, execution_ids: set[int]) -> None:
    """Another runner took these over: stop them here; the fence drops our writes."""
    for execution_id in execution_ids:
        run = ex._runs.get(execution_id)
        if run is None or run.lost:
            continue  # said once
        run.lost = True
        logger.warning("execution %d was taken over by another runner: it stops here", execution_id)
        ex.cancel(execution_id, "lease lost to another runner")


async def watch_cancellations(ex: Executor, interval: float) -> None:
    """Honour ``wfe cancel`` and ``wfe step --mark`` from other processes."""
    while True:
        await trio.sleep(interval)
        ids = list(ex._runs)
        if not ids:
            continue
        for execution_id in await trio.to_thread.run_sync(store.cancel_requested, ex.store, ids):
            ex.cancel(execution_id, "cancelled by request")
        marks = await trio.to_thread.run_sync(store.open_marks, ex.store, ids)
        for mark in marks:
            ex.settle(mark.execution_id, mark.step_id, mark.status, mark.text)
        if marks:
            await trio.to_thread.run_sync(store.marks_applied, ex.store, [m.id for m in marks])
