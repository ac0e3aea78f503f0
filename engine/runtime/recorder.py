"""The recorder: state changes gathered and committed in batches (group commit).

While one batch is being written on the writer thread, the next one fills; so under load
a commit carries many changes, and at rest a change is written at once. Listeners hear
of a change only once it is committed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
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
        self._lock = trio.Lock()
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

    def announce(self, event: Event) -> None:
        """Tell the listeners of a change already committed (by a claim), after the
        next commit (so in order with what was submitted before)."""
        self._events.append(event)
        self._wakeup.set()

    # -- committing ---------------------------------------------------------

    async def sync(self) -> None:
        """Return once everything submitted so far is committed.

        Works with or without the background loop: a caller that finds nobody writing
        writes the batch itself, so shutdown never waits on a task that is gone.
        """
        target = self._open_batch
        while self._committed < target:
            async with self._lock:
                if self._committed < target:
                    await self._flush_locked()

    def turn(self) -> trio.Lock:
        """Held while a batch is written: another write of this process (a claim) that
        takes it first waits its turn here, not in SQLite's busy handler, which sleeps
        in steps of many milliseconds before it tries the lock again."""
        return self._lock

    async def run(self) -> None:
        """Commit in the background until cancelled."""
        while True:
            await self._wakeup.wait()
            # Let a little more gather: a short step's start and end then share one row
            # and one commit. Whoever needs it durable now calls sync() and skips this.
            await trio.sleep(self._gather)
            self._wakeup = trio.Event()
            async with self._lock:
                await self._flush_locked()

    async def _flush_locked(self) -> None:
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
        if len(batch):
            fenced = await self._write(batch)
            self.batches += 1
            if fenced:
                self.on_fenced(fenced)
        self._committed = number
        for ev in events:
            for listener in self.listeners:
                listener(ev)

    # -- when the store cannot take a write ------------------------------------------

    async def healthy(self) -> None:
        """Return once writes go through (at once, unless the store is refusing them)."""
        await self._healthy.wait()

    async def _write(self, batch: store.Batch, *, split: bool = True) -> set[int]:
        """Write a batch, riding out a busy or unavailable store; never dropping it.

        A lock held by another process, a full disk, a server away: the same batch is
        tried again with backoff (said once in the log, and when it goes through), and
        new steps wait meanwhile (see :meth:`healthy`). Past ``patience`` (when the
        executor stops) the error is raised. What the database refuses outright (a
        value it cannot hold) costs only the execution it belongs to.
        """
        delay = RETRY_FIRST
        began = trio.current_time()
        while True:
            try:
                fenced: set[int] = await trio.to_thread.run_sync(
                    store.write_batch, self._db, batch, limiter=self._thread_limiter
                )
            except StoreRefused as exc:
                if not split:
                    raise
                return await self._write_apart(batch, exc)
            except StoreError as exc:
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
            if self.trouble is not None:
                logger.warning("the store takes writes again (%s before)", self.trouble)
                self.trouble = None
                self._healthy.set()
            return fenced

    async def _write_apart(self, batch: store.Batch, refused: StoreRefused) -> set[int]:
        """Write each execution's part alone; fail those the database refuses."""
        logger.warning("the store refused a batch (%s); writing it an execution at a time", refused)
        fenced: set[int] = set()
        for execution_id in sorted(batch.executions_in()):
            part = batch.of(execution_id)
            try:
                fenced |= await self._write(part, split=False)
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
                fenced |= await self._write(failed, split=False)
                self.on_refused(execution_id, why)
        return fenced
