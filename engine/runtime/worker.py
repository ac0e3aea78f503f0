"""``wfe worker``: a long-running runner that claims queued executions and runs them.

Any number of workers share one store. Each heartbeats its lease, claims what it has
room for (atomically, recorded running in the same statement; see
:func:`engine.store.claim_started`), adopts what dead runners left,
and runs it all on its own executor. SIGTERM or SIGINT stops the claiming, gives running
executions a grace period, then cancels and records what is left.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from engine import store
from engine.errors import EngineError
from engine.runtime import scheduler
from engine.runtime.executor import open_executor
from engine.runtime.run import ExecutionHandle
from engine.runtime.session import HEARTBEAT, LEASE, RunnerSession
from engine.status import RunnerKind
from engine.store import wakeups
from engine.store.dialects import WakeListener

logger = logging.getLogger(__name__)

SAFETY_POLL = 1.0  # seconds between looks at the queue of a worker that gets wake-ups


def _listener(db: store.Store) -> WakeListener | None:
    """What tells this worker of queued work (a socket for a SQLite file, LISTEN on
    PostgreSQL); None where none can be made: the worker then polls, as it always did."""
    try:
        return wakeups.listener(db)
    except Exception as exc:  # OSError, or psycopg's: polling still works
        logger.warning("no wake-ups (%s); polling every %ss", exc, WorkerOptions.poll_interval)
        return None


def listener_woken(listener: WakeListener) -> Callable[[], Awaitable[None]]:
    async def woken() -> None:
        await trio.lowlevel.wait_readable(listener.fileno())

    return woken


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 8
    grace: float = 10.0
    poll_interval: float = 0.02
    heartbeat_interval: float = HEARTBEAT
    lease: float = LEASE
    retention: float = 30 * 86400.0  # finished executions older than this are pruned; 0 keeps all
    prune_every: float = 3600.0


async def serve(
    db: store.Store, options: WorkerOptions = WorkerOptions(), *, stop: trio.Event | None = None
) -> int:
    """Claim and run executions until stopped; the number of executions it ran."""
    session = RunnerSession(
        db,
        RunnerKind.WORKER,
        concurrency=options.concurrency,
        lease=options.lease,
        heartbeat=options.heartbeat_interval,
    )
    stop = stop if stop is not None else trio.Event()
    active: dict[int, ExecutionHandle] = {}
    ran = 0
    lost_with: list[EngineError] = []

    def took(handles: list[ExecutionHandle]) -> None:
        nonlocal ran
        for handle in handles:
            active[handle.id] = handle
        ran += len(handles)

    listener = _listener(db)
    # Told of queued work at once (a wake-up), a worker polls only as a safety net.
    poll = options.poll_interval if listener is None else max(options.poll_interval, SAFETY_POLL)
    async with (
        session.open(),
        open_executor(db, max_concurrent_executions=options.concurrency, session=session) as ex,
        trio.open_nursery() as services,
    ):
        logger.info("worker %s started (concurrency %d)", session.id, options.concurrency)

        def lost(exc: EngineError) -> None:
            # Others take our work over now: stop, recording nothing more.
            lost_with.append(exc)
            ex.claimer = None
            stop.set()
            for handle in list(active.values()):
                ex.cancel(handle.id, "cancelled: its worker lost the store")

        async def adopt() -> None:
            if not stop.is_set():  # (a worker that stops takes nothing more over)
                took(await session.adopt(ex))

        async def signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
                async for signum in received:
                    logger.info(
                        "%s: no new work; %d running", signal.Signals(signum).name, len(active)
                    )
                    ex.claimer = None
                    stop.set()

        async def retain() -> None:
            while options.retention > 0:
                removed = await trio.to_thread.run_sync(
                    lambda: store.prune(db, older_than=options.retention)
                )
                if removed:
                    logger.info("pruned %d execution(s) past the retention", removed)
                await trio.sleep(options.prune_every)

        async def hand_back() -> None:
            # What the last batches claimed and nobody started goes back to the queue
            # (not when the lease is lost: then others take it over, as all the rest).
            async with ex.recorder.turn():  # a batch under way has told what it took
                claims = ex.take_claimed()
            ids = [x.id for claim in claims for x in claim.executions]
            for claim in claims:
                ex.started_claimed(claim)
            if ids:
                try:
                    back = await trio.to_thread.run_sync(lambda: store.unclaim(db, session.id, ids))
                    logger.info("handed back %d execution(s) it had not started", back)
                except EngineError as exc:  # its lease runs out: others take them over
                    logger.warning("could not hand back %d execution(s): %s", len(ids), exc)

        await adopt()  # the next runner to start takes over what the dead left
        services.start_soon(retain)
        services.start_soon(scheduler.run, db, session.id)
        services.start_soon(lambda: session.keep_alive(on_lost=lost, after_beat=adopt))
        services.start_soon(signals)
        # A batch that ends executions claims the next ones for their slots, in its
        # own transaction: one commit a cycle. They are started here.
        ex.claimer = session.claim_request

        while not stop.is_set():
            for execution_id in [i for i, h in active.items() if h.finished]:
                del active[execution_id]
            took(await session.start_taken(ex))
            if ex.held_back and ex.takeover_room():
                await adopt()  # slots kept from the queue for what dead runners left
            # Executions waiting for a human hold no slot, so they do not count.
            room = ex.room()
            if listener is not None:
                listener.drain()  # this claim answers every wake-up so far
            claimed = await session.claim(ex, room)
            took(claimed)
            if claimed and len(claimed) >= room and ex.room():
                continue  # the queue may hold more, and there is room again: at once
            # The next round comes as soon as an execution ends while this one is full
            # (its slot goes to the next queued execution at once), when work is queued
            # (a wake-up), or at the poll.
            if ex.has_claimed():
                continue  # a batch claimed while this one looked: start those first
            full = ex.room() == 0 or 0 < room <= len(claimed)
            with trio.move_on_after(options.poll_interval if full else poll):
                async with trio.open_nursery() as waits:

                    async def until(event: Callable[[], Awaitable[object]]) -> None:
                        await event()
                        waits.cancel_scope.cancel()

                    waits.start_soon(until, stop.wait)
                    if ex.room() == 0:
                        waits.start_soon(until, ex.wait_for_room)
                    elif listener is not None and not full:
                        waits.start_soon(until, listener_woken(listener))

        # Shutting down: let running executions finish within the grace period.
        ex.claimer = None
        ex.hold_back(0)
        ex.stopping()  # (first: a write that cannot be made is tried only so long)
        if not lost_with:
            await hand_back()
        with trio.move_on_after(options.grace):
            for handle in list(active.values()):
                await handle.wait()
        left = [h for h in active.values() if not h.finished]
        for handle in left:
            ex.cancel(handle.id, "cancelled: the worker stopped")
        for handle in left:
            await handle.wait()
        services.cancel_scope.cancel()
    if listener is not None:
        listener.close()
    logger.info("worker %s stopped after %d execution(s)", session.id, ran)
    if lost_with:
        raise lost_with[0]  # the command ends with the reason, and a failing exit status
    return ran
