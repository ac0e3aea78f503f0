"""One runner's life in the store: who it is, its heartbeat and lease, what it claims.

A runner is anything that runs executions: ``wfe worker``, a foreground ``wfe run``, a
console. Each holds a lease in the store and renews it with a heartbeat; the executions
it holds are its own until the lease runs out. :class:`RunnerSession` is that, shared by
all three: open it, keep it alive, claim queued work, and adopt what dead runners left.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from engine import settings, store
from engine.errors import EngineError
from engine.runtime.executor import Executor
from engine.runtime.run import ExecutionHandle
from engine.status import RunnerKind

logger = logging.getLogger(__name__)

HEARTBEAT = 2.0  # seconds between heartbeats
LEASE = settings.DEFAULT_LEASE  # a runner silent for this long is taken for dead


def new_identity(kind: RunnerKind, concurrency: int) -> store.Runner:
    """Who this process is in the store; ids are unique (host, pid and a random part)."""
    host = socket.gethostname()
    pid = os.getpid()
    prefix = "" if kind == RunnerKind.WORKER else f"{kind}:"
    runner_id = f"{prefix}{host}:{pid}:{uuid.uuid4().hex[:6]}"
    return store.Runner.new(runner_id, kind=kind, host=host, pid=pid, concurrency=concurrency)


class RunnerSession:
    """A runner's identity and lease in one store."""

    def __init__(
        self,
        db: store.Store,
        kind: RunnerKind,
        *,
        concurrency: int = 1,
        lease: float = LEASE,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.db = db
        self.identity = new_identity(kind, concurrency)
        self.lease = lease
        self.heartbeat_interval = heartbeat

    @property
    def id(self) -> str:
        return self.identity.id

    async def beat(self, *, stopped: bool = False) -> None:
        """Renew the lease now (or record that this runner has stopped)."""
        await trio.to_thread.run_sync(
            lambda: store.heartbeat(self.db, self.identity, lease=self.lease, stopped=stopped)
        )

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RunnerSession]:
        """Registered for the block's length; recorded stopped at its end, whatever happens."""
        await self.beat()
        try:
            yield self
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await self.beat(stopped=True)
                except EngineError as exc:
                    logger.warning("could not record that runner %s stopped: %s", self.id, exc)

    async def keep_alive(
        self,
        *,
        on_lost: Callable[[EngineError], object],
        after_beat: Callable[[], object] | None = None,
    ) -> None:
        """Heartbeat until cancelled.

        If the store stays out of reach for a whole lease, others take this runner's work
        over: ``on_lost`` is called once and the loop ends. ``after_beat`` (a coroutine
        function) runs after each heartbeat that got through.
        """
        last_ok = trio.current_time()
        while True:
            await trio.sleep(self.heartbeat_interval)
            try:
                await self.beat()
            except EngineError as exc:
                if trio.current_time() - last_ok > self.lease:
                    logger.warning(
                        "no heartbeat for %gs (%s); runner %s stops", self.lease, exc, self.id
                    )
                    on_lost(exc)
                    return
                logger.warning("heartbeat failed (%s); retrying", exc)
                continue
            last_ok = trio.current_time()
            if after_beat is not None:
                await after_beat()  # type: ignore[misc]

    async def claim(self, ex: Executor, room: int | None = None) -> list[ExecutionHandle]:
        """Claim queued executions while ``ex`` has room, and start them."""
        room = ex.room() if room is None else room
        if room <= 0:
            return []
        ids = await trio.to_thread.run_sync(store.claim, self.db, self.id, room)
        handles = []
        for execution_id in ids:
            try:
                # resume: a re-run from a step arrives with its reused results
                handles.append(await ex.start_existing(execution_id, resume=True))
            except EngineError as exc:
                logger.warning("execution %d cannot run: %s", execution_id, exc)
        return handles

    async def adopt(self, ex: Executor) -> list[ExecutionHandle]:
        """Take over what dead runners left behind, while ``ex`` has room."""
        room = ex.room()
        if room <= 0:
            return []
        taken = await trio.to_thread.run_sync(lambda: store.take_over(self.db, self.id, limit=room))
        handles = []
        for execution_id, runner in taken.items():
            logger.info("taking over execution %d from %s", execution_id, runner)
            try:
                handles.append(
                    await ex.start_existing(execution_id, resume=True, taken_from=runner)
                )
            except EngineError as exc:
                logger.warning("execution %d cannot run: %s", execution_id, exc)
        return handles
