"""The recorder: state changes gathered and committed in batches (group commit).

While one batch is being written on the writer thread, the next one fills; so under load
a commit carries many changes, and at rest a change is written at once. Listeners hear
of a change only once it is committed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from engine import store
from engine.errors import StoreError, StoreRefused
from engine.runtime.events import Event, Listener
from engine.status import SETTLED, ExecutionStatus

logger = logging.getLogger(__name__)

_StepKey = tuple[int, str, int]

GATHER = 0.005  # seconds a background flush waits for more changes
RETRY_FIRST, RETRY_MOST = 0.05, 2.0  # seconds between tries of a write the store cannot take
SHUTDOWN_PATIENCE = 30.0  # seconds the last writes are tried for when the executor stops


class Recorder:
    """Collects writes and commits them in batches on one worker thread."""

    def __init__(self, db: store.Store, owner: str | None = None, gather: float = GATHER) -> None:
        self._db = db
        self._gather = gather
        self.owner = owner  # a runner's id: its writes are fenced to what it still holds
        self.on_fenced: Callable[[set[int]], None] = lambda ids: None
        # An execution whose records the database refused (their rows were dropped).
        self.on_refused: Callable[[int, str], None] = lambda execution_id, why: None
        # A worker's claim of queued executions, made in a batch that ends executions
        # (for the slots it frees), and what is told of what it took once committed.
        self.refill: Callable[[store.Batch], store.ClaimRequest | None] | None = None
        self.on_claim: Callable[[store.Claim], None] = lambda claim: None
        self.trouble: StoreError | None = None  # why the last write could not be made
        self._healthy = trio.Event()
        self._healthy.set()
        self.patience: float = math.inf  # how long a write is retried for
        self._inserts: dict[_StepKey, dict[str, Any]] = {}
        self._updates: dict[_StepKey, dict[str, Any]] = {}
        self._in_db: set[_StepKey] = set()
        self._logs: list[dict[str, Any]] = []
        self._executions: dict[int, dict[str, Any]] = {}
        self._finished: list[tuple[int, int, str]] = []
        self._approvals_end: list[int] = []
        self._events: list[Event] = []
        self._wakeup = trio.Event()
        self._hurry = trio.Event()  # set when something waits for the next commit
        self._after: list[Callable[[], None]] = []  # to call once the open batch commits
        self._lock = trio.Lock()
        self._released = trio.Event()  # set (and replaced) each time the lock is let go
        self._open_batch = 0
        self._committed = -1
        self._thread_limiter = trio.CapacityLimiter(1)
        self.listeners: list[Listener] = []
        self.error: StoreError | None = None
        self.batches = 0

    # -- submitting ---------------------------------------------------------

    def step(self, row: dict[str, Any], event: Event | None = None, *, in_db: bool = False) -> None:
        """Insert or update a step run; ``in_db`` says a row for it exists already."""
        key = (row["execution_id"], row["step_id"], row["attempt"])
        if in_db:
            self._in_db.add(key)
        if key in self._in_db:
            self._updates[key] = row
        else:
            self._inserts[key] = row
        if event is not None:
            self._events.append(event)
        self._wakeup.set()

    def log(self, row: dict[str, Any], event: Event | None = None) -> None:
        self._logs.append(row)
        if event is not None:
            self._events.append(event)
        self._wakeup.set()

    def execution(
        self,
        execution_id: int,
        values: Mapping[str, Any],
        event: Event | None = None,
        *,
        finished_workflow: int | None = None,
        closes_approvals: bool = False,
    ) -> None:
        """Change an execution; ``finished_workflow`` counts its end in the workflow's tally,
        ``closes_approvals`` closes what its approval steps still wait for."""
        self._executions.setdefault(execution_id, {}).update(values)
        if finished_workflow is not None:
            self._finished.append((execution_id, finished_workflow, values["status"]))
        if closes_approvals:
            self._approvals_end.append(execution_id)
        if event is not None:
            self._events.append(event)
        self._wakeup.set()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once everything submitted so far is committed (or can
        never be: the store refused it for good), and commit soon: without waiting for
        more changes to gather. Like :meth:`sync`, without a task waiting for it."""
        self._after.append(callback)
        self._hurry.set()
        self._wakeup.set()

    def announce(self, event: Event) -> None:
        """Tell the listeners of a change already committed (by a claim), after the
        next commit (so in order with what was submitted before)."""
        self._events.append(event)
        self._wakeup.set()

    # -- committing ---------------------------------------------------------

    async def sync(self) -> None:
        """Return once everything submitted so far is committed.

        Works with or without the background loop: a caller that finds nobody writing
        writes the batch itself, so shutdown never waits on a task that is gone. Those
        that find a write under way wait for it together (one wake-up for them all, not
        the lock handed from one to the next).
        """
        target = self._open_batch
        while self._committed < target:
            if self._lock.locked():
                await self._released.wait()
                continue
            async with self.turn():
                if self._committed < target:
                    await self._flush_locked()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Held while a batch is written: another write of this process (a claim) that
        takes it first waits its turn here, not in SQLite's busy handler, which sleeps
        in steps of many milliseconds before it tries the lock again."""
        async with self._lock:
            try:
                yield
            finally:
                self._released.set()
                self._released = trio.Event()

    async def run(self) -> None:
        """Commit in the background until cancelled."""
        while True:
            await self._wakeup.wait()
            # Let a little more gather: a short step's start and end then share one row
            # and one commit. What is waited for (after_commit) cuts this short; whoever
            # needs it durable now calls sync() and skips it.
            with trio.move_on_after(self._gather):
                await self._hurry.wait()
            self._wakeup, self._hurry = trio.Event(), trio.Event()
            async with self.turn():
                await self._flush_locked()

    async def _flush_locked(self) -> None:
        after, self._after = self._after, []
        try:
            await self._flush_batch()
        finally:
            for callback in after:
                callback()

    async def _flush_batch(self) -> None:
        if self.error is not None:
            raise self.error
        number = self._open_batch
        self._open_batch += 1
        batch = store.Batch(
            step_inserts=list(self._inserts.values()),
            step_updates=list(self._updates.values()),
            logs=self._logs,
            executions=self._executions,
            finished=self._finished,
            approvals_end=self._approvals_end,
            owner=self.owner,
        )
        events = self._events
        for key, row in self._inserts.items():
            if row["status"] not in SETTLED:
                self._in_db.add(key)
        for key, row in self._updates.items():
            if row["status"] in SETTLED:
                self._in_db.discard(key)
        self._inserts, self._updates, self._logs, self._executions = {}, {}, [], {}
        self._events, self._finished, self._approvals_end = [], [], []
        claimed = None
        if len(batch):
            refill = self.refill(batch) if self.refill is not None and batch.finished else None
            fenced, claimed = await self._write(batch, refill=refill)
            self.batches += 1
            if fenced:
                self.on_fenced(fenced)
        self._committed = number
        if claimed is not None and claimed.executions:
            self.on_claim(claimed)
        for ev in events:
            for listener in self.listeners:
                listener(ev)

    # -- when the store cannot take a write ------------------------------------------

    async def healthy(self) -> None:
        """Return once writes go through (at once, unless the store is refusing them)."""
        await self._healthy.wait()

    async def _write(
        self, batch: store.Batch, *, split: bool = True, refill: store.ClaimRequest | None = None
    ) -> tuple[set[int], store.Claim | None]:
        """Write a batch, riding out a busy or unavailable store; never dropping it.

        A lock held by another process, a full disk, a server away: the same batch is
        tried again with backoff (said once in the log, and when it goes through), and
        new steps wait meanwhile (see :meth:`healthy`). Past ``patience`` (when the
        executor stops) the error is raised. What the database refuses outright (a
        value it cannot hold) costs only the execution it belongs to. ``refill``: a
        claim made in the same transaction (dropped if the batch is refused: the
        worker claims on its own then); what it took is returned with the fence.
        """
        delay = RETRY_FIRST
        began = trio.current_time()
        while True:
            try:
                if refill is None:
                    fenced: set[int] = await trio.to_thread.run_sync(
                        store.write_batch, self._db, batch, limiter=self._thread_limiter
                    )
                    claimed = None
                else:
                    fenced, claimed = await trio.to_thread.run_sync(
                        store.write_batch_and_claim,
                        self._db,
                        batch,
                        refill,
                        limiter=self._thread_limiter,
                    )
            except StoreRefused as exc:
                if not split:
                    raise
                return await self._write_apart(batch, exc), None
            except StoreError as exc:
                # Tried again without its claim (the worker claims on its own then):
                # whatever the claim met must never hold the batch up.
                refill = None
                if trio.current_time() - began > self.patience:
                    logger.warning("%d changes could not be written: %s", len(batch), exc)
                    self.error = exc
                    raise
                if self.trouble is None:
                    logger.warning("the store takes no writes (%s); retrying", exc)
                    self._healthy = trio.Event()
                self.trouble = exc
                await trio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST)
                continue
            except Exception:
                if refill is None:
                    raise
                logger.exception("a batch's claim failed; writing the batch without it")
                refill = None
                continue
            if self.trouble is not None:
                logger.warning("the store takes writes again (%s before)", self.trouble)
                self.trouble = None
                self._healthy.set()
            return fenced, claimed

    async def _write_apart(self, batch: store.Batch, refused: StoreRefused) -> set[int]:
        """Write each execution's part alone; fail those the database refuses."""
        logger.warning("the store refused a batch (%s); writing it an execution at a time", refused)
        fenced: set[int] = set()
        for execution_id in sorted(batch.executions_in()):
            part = batch.of(execution_id)
            try:
                fenced |= (await self._write(part, split=False))[0]
            except StoreRefused as exc:
                why = f"the store refused what it recorded: {exc}"
                logger.warning("execution %d: %s", execution_id, why)
                failed = store.Batch(
                    step_inserts=[],
                    step_updates=[],
                    logs=[],
                    executions={
                        execution_id: {
                            "status": ExecutionStatus.FAILED,
                            "finished_at": store.utcnow(),
                            "error": why[:2000],
                        }
                    },
                    finished=part.finished[-1:] or [],
                    approvals_end=part.approvals_end,
                    owner=self.owner,
                )
                fenced |= (await self._write(failed, split=False))[0]
                self.on_refused(execution_id, why)
        return fenced
