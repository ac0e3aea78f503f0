"""One runner's life in the store: who it is, its heartbeat and lease, what it claims.

A runner is anything that runs executions: ``wfe worker``, a foreground ``wfe run``, a
console. Each holds a lease in the store and renews it with a heartbeat; the executions
it holds are its own until the lease runs out. :class:`RunnerSession` is that, shared by
all three: open it, keep it alive, claim queued work, and adopt what dead runners left.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from engine import definition, settings, store
from engine.errors import EngineError, StoreBusy, StoreFull, StoreUnavailable
from engine.runtime.executor import Executor
from engine.runtime.run import ExecutionHandle
from engine.status import RunnerKind
from engine.steps import processes

logger = logging.getLogger(__name__)

HEARTBEAT = 2.0  # seconds between heartbeats
LEASE = settings.DEFAULT_LEASE  # a runner silent for this long is taken for dead
LOCK_PATIENCE = 60.0  # seconds a runner waits out another process's lock on the store


def _limited(workflow: store.Workflow) -> bool:
    """Whether a workflow's executions wait for a concurrency limit of their own."""
    try:
        return definition.parsed(workflow).concurrency is not None
    except EngineError:
        return False  # it cannot start at all: admission records why


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
        self._troubled: EngineError | None = None
        # Since when (trio's clock) this runner's heartbeats have gone through without a
        # gap: a take-over judges only leases that expired in that time.
        self._contact_since: float | None = None
        self._last_beat: float | None = None
        self._gap = False  # the last heartbeat came after a silence: confirm what it holds
        self.executor: Executor | None = None  # the executor it runs (set by it)
        self._workflows: dict[str, store.Workflow] = {}  # what its claims ran, by name

    @property
    def id(self) -> str:
        return self.identity.id

    async def beat(self, *, stopped: bool = False) -> None:
        """Renew the lease now (or record that this runner has stopped)."""
        try:
            await trio.to_thread.run_sync(
                lambda: store.heartbeat(self.db, self.identity, lease=self.lease, stopped=stopped)
            )
        except EngineError:
            self._contact_since = None
            raise
        now = trio.current_time()
        if self._last_beat is None or now - self._last_beat > self._silence_limit:
            self._contact_since = now  # a gap (a pause, a lock): watching starts again
            self._gap = self._last_beat is not None
        elif self._contact_since is None:
            self._contact_since = now
        self._last_beat = now

    @property
    def _silence_limit(self) -> float:
        """Seconds without a heartbeat after which what this runner holds is in doubt."""
        return min(self.lease / 2, 3 * self.heartbeat_interval)

    def in_touch(self) -> bool:
        """Whether the store heard from this runner so lately that its lease holds.

        After a silence (the process was paused, the store out of reach) another runner
        may have taken its executions over: then ask the store (:meth:`Executor.holds`).
        """
        last = self._last_beat
        if last is None or self._gap:
            return False  # after a gap, until what it holds is confirmed
        return trio.current_time() - last < self._silence_limit

    @property
    def watched(self) -> float:
        """Seconds this runner has been in touch with the store without a gap."""
        if self._contact_since is None:
            return 0.0
        return trio.current_time() - self._contact_since

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
        after_beat: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Heartbeat until cancelled.

        If the store stays out of reach for a whole lease, others take this runner's work
        over: ``on_lost`` is called once and the loop ends. A lock another process holds
        on the whole store is waited out for up to LOCK_PATIENCE, a full disk for as long
        as it lasts (nobody can take work over meanwhile, see :meth:`adopt`).
        ``after_beat`` runs after each heartbeat that got through.
        """
        last_ok = trio.current_time()
        failing = False
        while True:
            await trio.sleep(self.heartbeat_interval)
            try:
                await self.beat()
            except EngineError as exc:
                patience = self._patience(exc)
                if trio.current_time() - last_ok > patience:
                    logger.warning(
                        "no heartbeat for %gs (%s); runner %s stops", patience, exc, self.id
                    )
                    on_lost(exc)
                    return
                if not failing:
                    logger.warning("heartbeat failed (%s); retrying", exc)
                failing = True
                continue
            if failing:
                logger.warning("heartbeats go through again")
                failing = False
            if self.db.replaced():
                gone = StoreUnavailable(
                    f"the store {self.db.where} was deleted or replaced while this runner"
                    " used it; stopping (start it again on the store you mean)"
                )
                logger.error("%s", gone)
                on_lost(gone)
                return
            last_ok = trio.current_time()
            # After a gap, a runner that lost its lease stops at once (until then every
            # step about to start asks the store, see Executor.holds).
            if self._gap and (self.executor is None or await self.executor.confirm()):
                self._gap = False
            if after_beat is not None:
                await after_beat()

    def _patience(self, exc: EngineError) -> float:
        """How long heartbeats may fail before this runner gives its work up.

        A full disk stops every writer alike, and nobody can take work over meanwhile:
        it is waited out for as long as it lasts. A lock too, for up to LOCK_PATIENCE.
        Anything else (the server or the file gone) for a lease: others may still reach
        the store and take over.
        """
        if isinstance(exc, StoreFull):
            return math.inf
        if isinstance(exc, StoreBusy):
            return max(self.lease, LOCK_PATIENCE)
        return self.lease

    def _trouble(self, what: str, exc: EngineError) -> None:
        """Say once that the store refuses what this runner asks (and once when it is back)."""
        if self._troubled is None:
            logger.warning("cannot %s (%s); trying again", what, exc)
        self._troubled = exc

    def _fine(self) -> None:
        if self._troubled is not None:
            logger.warning("the store answers again")
            self._troubled = None

    async def claim(self, ex: Executor, room: int | None = None) -> list[ExecutionHandle]:
        """Claim queued executions while ``ex`` has room, and start them.

        One statement claims them and records them running (those of a workflow with a
        concurrency limit stay queued until they have their slot); the workflows they
        run come in the same transaction, read again only when changed.
        """
        if (ex.room() if room is None else room) <= 0:
            return []
        known = dict(self._workflows)  # (read on the thread)
        try:
            async with ex.recorder.turn():  # one writer of this process at a time
                # Counted once its turn came: slots freed by the batch it waited for
                # are claimed now too, not in a claim of their own.
                room = ex.room()
                if room <= 0:
                    return []
                claim = await trio.to_thread.run_sync(
                    lambda: store.claim_started(self.db, self.id, room, known=known, held=_limited)
                )
        except EngineError as exc:  # a lock, a lost connection: the next round tries again
            self._trouble("claim", exc)
            return []
        self._fine()
        return await self._start(ex, claim)

    def claim_request(self, limit: int) -> store.ClaimRequest:
        """The claim a batch that frees ``limit`` slots makes for them (a worker's)."""
        return store.ClaimRequest(self.id, limit, dict(self._workflows), _limited)

    async def start_taken(self, ex: Executor) -> list[ExecutionHandle]:
        """Start what ``ex``'s batches claimed as they freed slots."""
        handles = []
        for claim in ex.take_claimed():
            try:
                handles += await self._start(ex, claim)
            finally:
                ex.started_claimed(claim)
        return handles

    async def _start(self, ex: Executor, claim: store.Claim) -> list[ExecutionHandle]:
        known = self._workflows
        if len(known) > 1000:
            known.clear()  # kept for the workflows in use; a store of many starts again
        known.update(claim.workflows)
        handles = []
        for execution, started in zip(claim.executions, await ex.start_claimed(claim), strict=True):
            if isinstance(started, EngineError):
                logger.warning("execution %d cannot run: %s", execution.id, started)
            else:
                handles.append(started)
        return handles

    def _dead(self, runner: store.Runner) -> bool:
        """A runner on this host whose process is gone is dead now, whatever its lease
        says (the process's start time tells a reused pid from its own)."""
        return runner.host == self.identity.host and processes.gone(runner.pid, runner.started_at)

    async def release(self) -> set[int]:
        """Hand back every execution this runner holds, for another to take over at once.

        In one commit each passes to a runner that has no row in the store (this one's id
        and ``:left``): to a take-over, a runner unknown to the store is gone, so the next
        runner that adopts (a worker after its next heartbeat, a console within a second)
        takes them, and from that commit on this runner's writes to them are fenced off:
        cancelling them here records nothing. Approvals they wait for stay pending. (What
        runners already gone left goes the same way: any take-over would pass it on.)
        """
        ghost = f"{self.id}:left"

        def hand_over() -> dict[int, str]:
            return store.take_over(
                self.db, ghost, limit=2**31, watched=0.0, dead=lambda r: r.id == self.id
            )

        return set(await trio.to_thread.run_sync(hand_over))

    async def adopt(self, ex: Executor) -> list[ExecutionHandle]:
        """Take over what dead runners left behind, while ``ex`` has room; and keep the
        slots that free next from the queue for what is left (``Executor.held_back``):
        a dead runner's work runs before anything queued, even on a busy runner.

        A runner is dead when it said it stopped, when it is on this host and its process
        is gone, or when its lease ran out while this runner was watching (a lease that
        ran out while this one was cut off from the store too proves nothing).
        """
        room = ex.takeover_room()
        watched = self.watched

        def take() -> tuple[dict[int, str], int]:
            taken: dict[int, str] = {}
            if room > 0:
                taken = store.take_over(
                    self.db, self.id, limit=room, watched=watched, dead=self._dead
                )
            if len(taken) < room:
                return taken, 0  # it could take more: none is left
            return taken, store.orphans(self.db, self.id, watched=watched, dead=self._dead)

        taken, left = await trio.to_thread.run_sync(take)
        ex.hold_back(left)
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
