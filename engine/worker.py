"""``wfe worker``: a long-running process that claims queued executions and runs them.

Any number of workers share one store. Each records a heartbeat every few seconds,
claims what it has room for (atomically; see :func:`engine.store.claim`) and runs it on
its own executor under the same limits as the console. SIGTERM or SIGINT stops the
claiming, gives running executions a grace period, then cancels and records what is left.
"""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import trio

from engine import executor, scheduler, store
from engine.errors import EngineError

HEARTBEAT = 2.0  # seconds between heartbeats
LEASE = store.DEFAULT_LEASE  # a runner silent for this long is taken for dead


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 8
    grace: float = 10.0
    poll_interval: float = 0.02
    heartbeat_interval: float = HEARTBEAT
    lease: float = LEASE
    retention: float = 30 * 86400.0  # finished executions older than this are pruned; 0 keeps all
    prune_every: float = 3600.0


def new_identity(concurrency: int, kind: str = "worker") -> store.Worker:
    """Who this process is in the store: workers, consoles and `wfe run` all hold leases."""
    host = socket.gethostname()
    pid = os.getpid()
    prefix = "" if kind == "worker" else f"{kind}:"
    return store.Worker(
        id=f"{prefix}{host}:{pid}:{uuid.uuid4().hex[:6]}",
        kind=kind,
        host=host,
        pid=pid,
        concurrency=concurrency,
    )


async def keep_alive(
    db: store.Store,
    me: store.Worker,
    *,
    on_lost: Callable[[], object],
    interval: float = HEARTBEAT,
    lease: float = LEASE,
) -> None:
    """Heartbeat until cancelled; if the store is out of reach for a lease, ``on_lost``."""
    last_ok = trio.current_time()
    while True:
        await trio.sleep(interval)
        try:
            await trio.to_thread.run_sync(lambda: store.heartbeat(db, me, lease=lease))
            last_ok = trio.current_time()
        except EngineError:
            if trio.current_time() - last_ok > lease:
                on_lost()
                return


async def serve(
    db: store.Store,
    options: WorkerOptions = WorkerOptions(),
    *,
    say: Callable[[str], None] = lambda line: None,
    stop: trio.Event | None = None,
) -> int:
    """Claim and run executions until stopped; the number of executions it ran."""
    me = new_identity(options.concurrency)
    stop = stop or trio.Event()
    await trio.to_thread.run_sync(lambda: store.heartbeat(db, me, lease=options.lease))
    say(f"worker {me.id} started (concurrency {options.concurrency})")
    active: dict[int, executor.ExecutionHandle] = {}
    ran = 0

    async with (
        executor.open_executor(
            db, max_concurrent_executions=options.concurrency, owner=me.id
        ) as ex,
        trio.open_nursery() as services,
    ):

        async def beat() -> None:
            last_ok = trio.current_time()
            while True:
                await trio.sleep(options.heartbeat_interval)
                try:
                    await trio.to_thread.run_sync(
                        lambda: store.heartbeat(db, me, lease=options.lease)
                    )
                    last_ok = trio.current_time()
                except EngineError as exc:
                    if trio.current_time() - last_ok > options.lease:
                        # Others will take our work over now: stop, recording nothing.
                        say(f"no heartbeat for {options.lease:g}s ({exc}); stopping")
                        stop.set()
                        for handle in list(active.values()):
                            ex.cancel(handle.id, "cancelled: its worker lost the store")
                        return
                    continue
                await adopt()

        async def adopt() -> None:
            """Take over what dead workers left behind, while there is room."""
            room = options.concurrency - ex.busy()
            taken = await trio.to_thread.run_sync(lambda: store.take_over(db, me.id, limit=room))
            nonlocal ran
            for execution_id, runner in taken.items():
                say(f"taking over execution {execution_id} from {runner}")
                try:
                    active[execution_id] = await ex.start_existing(
                        execution_id, resume=True, taken_from=runner
                    )
                    ran += 1
                except EngineError as exc:
                    say(f"execution {execution_id} cannot run: {exc}")

        async def signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
                async for signum in received:
                    say(f"{signal.Signals(signum).name}: no new work; {len(active)} running")
                    stop.set()

        async def retain() -> None:
            while options.retention > 0:
                removed = await trio.to_thread.run_sync(
                    lambda: store.prune(db, older_than=options.retention)
                )
                if removed:
                    say(f"pruned {removed} execution(s) past the retention")
                await trio.sleep(options.prune_every)

        await adopt()  # the next worker to start takes over what the dead left
        services.start_soon(retain)
        services.start_soon(lambda: scheduler.run(db, me.id, say=say))
        services.start_soon(beat)
        services.start_soon(signals)

        while not stop.is_set():
            for execution_id in [i for i, h in active.items() if h.finished]:
                del active[execution_id]
            # Executions waiting for a human hold no slot, so they do not count.
            room = options.concurrency - ex.busy()
            if room > 0:
                ids = await trio.to_thread.run_sync(store.claim, db, me.id, room)
                for execution_id in ids:
                    try:
                        # resume: a re-run from a step arrives with its reused results
                        active[execution_id] = await ex.start_existing(execution_id, resume=True)
                        ran += 1
                    except EngineError as exc:
                        say(f"execution {execution_id} cannot run: {exc}")
            with trio.move_on_after(options.poll_interval):
                await stop.wait()

        # Shutting down: let running executions finish within the grace period.
        with trio.move_on_after(options.grace):
            for handle in list(active.values()):
                await handle.wait()
        left = [h for h in active.values() if not h.finished]
        for handle in left:
            ex.cancel(handle.id, "cancelled: the worker stopped")
        for handle in left:
            await handle.wait()
        services.cancel_scope.cancel()
    await trio.to_thread.run_sync(lambda: store.heartbeat(db, me, stopped=True))
    say(f"worker {me.id} stopped after {ran} execution(s)")
    return ran
