"""The trio executor: runs executions under limits and records every change durably.

``async with open_executor(store) as executor`` owns a nursery. Limits are
``trio.CapacityLimiter``\\ s: a global one (``max_concurrent_executions``), one per workflow
(its ``concurrency:``) and one per execution (``max_parallel_steps``). Timeouts are cancel
scopes. State changes go to a :class:`Recorder`, which writes them in batches (group
commit) on a worker thread; listeners hear of a change only once it is committed.
"""

from __future__ import annotations

import collections
import functools
import math
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
import trio

from engine import definition, expressions, steps, store
from engine.errors import EngineError, InvalidParams, StepError, StepTimeout, StoreError
from engine.steps import shell

HOST = socket.gethostname()

# ---------------------------------------------------------------------------
# Events and statistics
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """A committed change, for listeners (the CLI's progress, the console)."""

    kind: Literal["execution", "step", "log"]
    execution_id: int
    status: str | None = None
    step_id: str | None = None
    attempt: int | None = None
    duration_ms: float | None = None
    text: str | None = None
    stream: str | None = None


@dataclass(frozen=True)
class ExecutorStatistics:
    """A snapshot of the executor (as ``trio.CapacityLimiter.statistics()`` is)."""

    running: int
    queued: int
    max_concurrent_executions: int
    max_parallel_steps: int
    steps_done: int
    steps_per_second: float


Listener = Callable[[Event], None]


# ---------------------------------------------------------------------------
# The recorder: group commit
# ---------------------------------------------------------------------------

_StepKey = tuple[int, str, int]

GATHER = 0.005  # seconds a background flush waits for more changes
PACE = 0.001  # seconds instant steps may run before they let other tasks go


class Recorder:
    """Collects writes and commits them in batches on one worker thread.

    While one batch is being written, the next one fills; so under load a commit carries
    many changes and at rest a change is written at once.
    """

    def __init__(self, db: store.Store, owner: str | None = None, gather: float = GATHER) -> None:
        self._db = db
        self._gather = gather
        self.owner = owner  # a worker's id: its writes are fenced to what it still owns
        self.on_fenced: Callable[[set[int]], None] = lambda ids: None
        self._inserts: dict[_StepKey, dict[str, Any]] = {}
        self._updates: dict[_StepKey, dict[str, Any]] = {}
        self._in_db: set[_StepKey] = set()
        self._logs: list[dict[str, Any]] = []
        self._executions: dict[int, dict[str, Any]] = {}
        self._finished: list[tuple[int, int, str]] = []
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
    ) -> None:
        """Change an execution; ``finished_workflow`` counts its end in the workflow's tally."""
        self._executions.setdefault(execution_id, {}).update(values)
        if finished_workflow is not None:
            self._finished.append((execution_id, finished_workflow, values["status"]))
        if event is not None:
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

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            # Let a little more gather: a short step's start and end then share one row
            # and one commit. Whoever needs it durable now calls sync() and skips this.
            await trio.sleep(self._gather)
            self._wakeup = trio.Event()
            async with self._lock:
                await self._flush_locked()

    async def drain(self) -> None:
        """Commit whatever is pending (at shutdown)."""
        await self.sync()

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
            owner=self.owner,
        )
        events = self._events
        for key, row in self._inserts.items():
            if row["status"] not in _SETTLED:
                self._in_db.add(key)
        for key, row in self._updates.items():
            if row["status"] in _SETTLED:
                self._in_db.discard(key)
        self._inserts, self._updates, self._logs, self._executions = {}, {}, [], {}
        self._events, self._finished = [], []
        if len(batch):
            try:
                fenced = await trio.to_thread.run_sync(
                    store.write_batch, self._db, batch, limiter=self._thread_limiter
                )
            except StoreError as exc:
                self.error = exc
                raise
            self.batches += 1
            if fenced:
                self.on_fenced(fenced)
        self._committed = number
        for ev in events:
            for listener in self.listeners:
                listener(ev)


_SETTLED = store.FINISHED | {"skipped"}


# ---------------------------------------------------------------------------
# One execution
# ---------------------------------------------------------------------------

_BLOCKING = frozenset({"failed", "timed_out", "cancelled"})


@dataclass(eq=False)
class _Run:
    id: int
    workflow_id: int
    workflow: definition.Workflow
    params: dict[str, Any]
    secrets: dict[str, str]
    trigger: str
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    status: str = "queued"
    error: str | None = None
    cancel_reason: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    log_seq: int = 0
    started: float | None = None
    holding: bool = False  # does it hold a global execution slot now
    waiting: int = 0  # its steps waiting for a human, which hold no slot
    # On a take-over: each step's last recorded attempt (status, attempt, output).
    prior: dict[str, tuple[str, int, Any]] = field(default_factory=dict)
    prior_started: dict[str, Any] = field(default_factory=dict)
    # Where the shells of steps that were running when the previous owner died run:
    # step id -> (host, process group id)
    prior_process: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    taken_from: str | None = None  # the runner it was taken over from

    def mask(self, text: str) -> str:
        for value in self.secrets.values():
            if value:
                text = text.replace(value, "***")
        return text

    def mask_value(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.mask_value(v) for v in value]
        return value


@dataclass(frozen=True)
class _Plan:
    """A workflow's step graph, worked out once per definition."""

    by_id: dict[str, definition.Step]
    positions: dict[str, int]
    needs: dict[str, list[str]]
    dependents: dict[str, list[str]]
    waiting: dict[str, int]
    roots: list[str]
    kinds: dict[str, str]

    @classmethod
    def of(cls, wf: definition.Workflow) -> _Plan:
        needs = wf.dependencies()
        dependents: dict[str, list[str]] = {s.id: [] for s in wf.steps}
        for sid, required in needs.items():
            for need in required:
                dependents[need].append(sid)
        return cls(
            by_id={s.id: s for s in wf.steps},
            positions={s.id: i for i, s in enumerate(wf.steps)},
            needs=needs,
            dependents=dependents,
            waiting={sid: len(required) for sid, required in needs.items()},
            roots=[sid for sid, required in needs.items() if not required],
            kinds={s.id: s.kind for s in wf.steps},
        )


@dataclass(frozen=True)
class ExecutionHandle:
    """An execution the executor has accepted: its id, and a way to wait for its end."""

    id: int
    _run: _Run

    async def wait(self) -> str:
        """Wait until the execution has finished and its end is recorded; its status."""
        await self._run.done.wait()
        return self._run.status

    @property
    def status(self) -> str:
        return self._run.status

    @property
    def finished(self) -> bool:
        """True once the execution's end is committed to the store."""
        return self._run.done.is_set()

    @property
    def error(self) -> str | None:
        return self._run.error


# ---------------------------------------------------------------------------
# The executor
# ---------------------------------------------------------------------------


class Executor:
    """Runs executions; make one with :func:`open_executor`."""

    def __init__(
        self,
        db: store.Store,
        recorder: Recorder,
        nursery: trio.Nursery,
        http_client: httpx.AsyncClient,
        *,
        max_concurrent_executions: int,
        max_parallel_steps: int,
        kill_grace: float,
        environ: Mapping[str, str],
    ) -> None:
        self.store = db
        self.owner = recorder.owner
        self._recorder = recorder
        self._nursery = nursery
        self._http = http_client
        self._global = trio.CapacityLimiter(max_concurrent_executions)
        self._paced = 0.0  # when _pace last let other tasks go
        self._per_workflow: dict[str, trio.CapacityLimiter] = {}
        self._max_parallel_steps = max_parallel_steps
        self._kill_grace = kill_grace
        self._environ = dict(environ)
        self._runs: dict[int, _Run] = {}
        self._definitions: dict[str, definition.Workflow] = {}
        self._plans: dict[str, _Plan] = {}
        self._steps_done = 0
        self._recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=64)

    # -- public API ---------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._recorder.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._recorder.listeners.remove(listener)

    async def start(
        self, name: str, params: Mapping[str, Any] | None = None, *, trigger: str = "manual"
    ) -> ExecutionHandle:
        """Queue an execution of workflow ``name`` and start it as soon as limits allow.

        Raises:
            NotFound: no such workflow.
            InvalidParams: the parameters do not fit, or a secret is not set.
        """
        return (await self.start_many(name, [params or {}], trigger=trigger))[0]

    async def start_many(
        self, name: str, params: Sequence[Mapping[str, Any]], *, trigger: str = "manual"
    ) -> list[ExecutionHandle]:
        """Queue several executions of one workflow in one transaction, and start them."""
        row = await trio.to_thread.run_sync(store.get_workflow, self.store, name)
        if not row.is_active:
            raise InvalidParams(
                f"workflow {name!r} is disabled; `wfe workflow enable {name}` first"
            )
        wf = self._definition(row)
        merged = [wf.merge_params(p) for p in params]
        secrets = self._secrets(wf)
        rows = await trio.to_thread.run_sync(
            lambda: store.create_executions(self.store, row, merged, trigger, owner=self.owner)
        )
        handles = []
        for execution, values in zip(rows, merged, strict=True):
            assert execution.id is not None and row.id is not None
            run = _Run(execution.id, row.id, wf, values, secrets, trigger)
            self._runs[run.id] = run
            self._nursery.start_soon(self._run_execution, run)
            handles.append(ExecutionHandle(run.id, run))
        return handles

    async def start_existing(
        self, execution_id: int, *, resume: bool = False, taken_from: str | None = None
    ) -> ExecutionHandle:
        """Run an execution already queued in the store (claimed by a worker).

        An execution that cannot start (its workflow gone or disabled, a secret missing)
        is recorded ``failed`` with the reason, never left queued.
        """
        row = await trio.to_thread.run_sync(store.get_execution, self.store, execution_id)
        try:
            wf_row = await trio.to_thread.run_sync(
                store.get_workflow, self.store, row.workflow_name
            )
            wf = self._definition(wf_row)
            secrets = self._secrets(wf)
            params = wf.merge_params(row.params)
        except EngineError as exc:
            self._recorder.execution(
                execution_id,
                {"status": "failed", "finished_at": store.utcnow(), "error": str(exc)},
            )
            await self._recorder.sync()
            raise
        assert wf_row.id is not None
        run = _Run(execution_id, wf_row.id, wf, params, secrets, row.trigger)
        if resume:
            runs = await trio.to_thread.run_sync(
                lambda: store.step_runs(self.store, execution_id, latest_only=True)
            )
            run.prior = {r.step_id: (r.status, r.attempt, r.output) for r in runs}
            run.prior_started = {r.step_id: r.started_at for r in runs}
            run.prior_process = {
                r.step_id: (r.host, r.pid)
                for r in runs
                if r.pid is not None and r.status not in _SETTLED
            }
            run.log_seq = await trio.to_thread.run_sync(
                store.last_log_seq, self.store, execution_id
            )
            run.taken_from = taken_from
        self._runs[run.id] = run
        self._nursery.start_soon(self._run_execution, run)
        return ExecutionHandle(run.id, run)

    async def run(
        self, name: str, params: Mapping[str, Any] | None = None, *, trigger: str = "manual"
    ) -> ExecutionHandle:
        """Start an execution and wait for its end."""
        handle = await self.start(name, params, trigger=trigger)
        await handle.wait()
        return handle

    def cancel(self, execution_id: int, reason: str = "cancelled") -> bool:
        """Cancel a running or queued execution of this executor; False if it has none."""
        run = self._runs.get(execution_id)
        if run is None:
            return False
        run.cancel_reason = run.cancel_reason or reason
        run.scope.cancel()
        return True

    def busy(self) -> int:
        """Executions holding or waiting for a slot (not those idle, waiting for a human)."""
        return sum(1 for r in self._runs.values() if r.waiting == 0)

    def statistics(self) -> ExecutorStatistics:
        running = sum(1 for r in self._runs.values() if r.status == "running")
        return ExecutorStatistics(
            running=running,
            queued=len(self._runs) - running,
            max_concurrent_executions=int(self._global.total_tokens),
            max_parallel_steps=self._max_parallel_steps,
            steps_done=self._steps_done,
            steps_per_second=self._rate(),
        )

    # -- internals ----------------------------------------------------------

    def parsed(self, digest: str) -> definition.Workflow | None:
        """A definition this executor has parsed already (by digest), if any."""
        return self._definitions.get(digest)

    def _definition(self, row: store.Workflow) -> definition.Workflow:
        wf = self._definitions.get(row.digest)
        if wf is None:
            wf = definition.parse(row.definition, f"{row.name} (v{row.version})")
            self._definitions[row.digest] = wf
        return wf

    def _plan(self, wf: definition.Workflow) -> _Plan:
        plan = self._plans.get(wf.digest)
        if plan is None:
            plan = self._plans[wf.digest] = _Plan.of(wf)
        return plan

    def _secrets(self, wf: definition.Workflow) -> dict[str, str]:
        missing = [s for s in wf.secrets if s not in self._environ]
        if missing:
            raise InvalidParams(
                f"workflow {wf.name!r} needs the secret(s) {', '.join(missing)};"
                " set them in the environment"
            )
        return {s: self._environ[s] for s in wf.secrets}

    def _rate(self) -> float:
        now = int(trio.current_time())
        window = [(t, n) for t, n in self._recent if now - t < 10]
        if not window:
            return 0.0
        span = max(1, now - window[0][0] + 1)
        return sum(n for _, n in window) / span

    def _count_step(self) -> None:
        self._steps_done += 1
        now = int(trio.current_time())
        if self._recent and self._recent[-1][0] == now:
            self._recent[-1] = (now, self._recent[-1][1] + 1)
        else:
            self._recent.append((now, 1))

    def _limiter_for(self, wf: definition.Workflow) -> trio.CapacityLimiter | None:
        if wf.concurrency is None:
            return None
        limiter = self._per_workflow.get(wf.name)
        if limiter is None:
            limiter = self._per_workflow[wf.name] = trio.CapacityLimiter(wf.concurrency)
        elif limiter.total_tokens != wf.concurrency:
            limiter.total_tokens = wf.concurrency
        return limiter

    async def _run_execution(self, run: _Run) -> None:
        rec = self._recorder
        clock_start: float | None = None
        ended_normally = False
        try:
            with run.scope:
                await self._global.acquire_on_behalf_of(run)
                run.holding = True
                try:
                    limiter = self._limiter_for(run.workflow)
                    if limiter is not None:
                        await limiter.acquire_on_behalf_of(run)
                    try:
                        clock_start = trio.current_time()
                        run.status = "running"
                        run.started = clock_start
                        rec.execution(
                            run.id,
                            {"status": "running", "started_at": store.utcnow()},
                            Event("execution", run.id, status="running"),
                        )
                        with trio.move_on_after(run.workflow.timeout) as deadline:
                            await self._run_steps(run)
                        if deadline.cancelled_caught:
                            run.status = "timed_out"
                            run.error = (
                                "the execution ran past its timeout of "
                                + definition.format_duration(run.workflow.timeout)
                            )
                    finally:
                        if limiter is not None:
                            limiter.release_on_behalf_of(run)
                finally:
                    if run.holding:
                        self._global.release_on_behalf_of(run)
                        run.holding = False
            if run.scope.cancelled_caught:
                run.status = "cancelled"
                run.error = run.cancel_reason or "cancelled"
            ended_normally = True
        except Exception as exc:  # a bug or a store failure: record it, never leave "running"
            run.status = "failed"
            run.error = f"internal error: {type(exc).__name__}: {exc}"
            if isinstance(exc, StoreError):
                raise
        finally:
            with trio.CancelScope(shield=True):
                if run.status == "running" and ended_normally:
                    run.status = self._outcome(run)
                elif run.status == "running":
                    # Cancelled from outside: the executor is shutting down.
                    run.status = "cancelled"
                    run.error = run.cancel_reason or "cancelled: the executor stopped"
                elif run.status == "queued":
                    run.status = "cancelled"
                    run.error = run.error or run.cancel_reason or "cancelled before it started"
                self._record_unfinished_steps(run)
                duration = (
                    (trio.current_time() - clock_start) * 1000 if clock_start is not None else None
                )
                rec.execution(
                    run.id,
                    {
                        "status": run.status,
                        "finished_at": store.utcnow(),
                        "duration_ms": duration,
                        "error": run.mask(run.error) if run.error else None,
                    },
                    Event(
                        "execution", run.id, status=run.status, duration_ms=duration, text=run.error
                    ),
                    finished_workflow=run.workflow_id,
                )
                try:
                    await rec.sync()
                finally:
                    self._runs.pop(run.id, None)
                    run.results.clear()
                    run.done.set()

    def _outcome(self, run: _Run) -> str:
        for step in run.workflow.steps:
            result = run.results.get(step.id)
            if result is None:
                continue
            if result["status"] in ("failed", "timed_out") and not step.continue_on_error:
                what = result["status"].replace("_", " ")
                run.error = f"step {step.id!r} {what}: {result.get('error') or ''}".rstrip(": ")
                return "failed"
        return "succeeded"

    def _record_unfinished_steps(self, run: _Run) -> None:
        now = store.utcnow()
        status = "cancelled" if run.status in ("cancelled", "timed_out") else "skipped"
        for position, step in enumerate(run.workflow.steps):
            result = run.results.get(step.id)
            if result is None or result["status"] in ("running", "pending"):
                attempt = result["attempt"] if result else 1
                self._recorder.step(
                    {
                        "execution_id": run.id,
                        "step_id": step.id,
                        "position": position,
                        "attempt": attempt,
                        "status": status,
                        "started_at": result["started_at"] if result else None,
                        "finished_at": now,
                        "duration_ms": None,
                        "exit_code": None,
                        "output": None,
                        "error": f"execution {run.status.replace('_', ' ')}",
                        "host": None,
                        "pid": None,
                    }
                )

    async def _run_steps(self, run: _Run) -> None:
        plan = self._plan(run.workflow)
        waiting = dict(plan.waiting)
        limiter = trio.CapacityLimiter(self._max_parallel_steps)
        context: dict[str, Any] = {
            "params": run.params,
            "env": {**self._environ, **run.workflow.env},
            "secrets": run.secrets,
            "steps": {},
            "execution": {"id": run.id},
        }
        environ = self._step_environ(run)
        ready = list(plan.roots)
        if run.prior or run.taken_from:
            await self._end_orphans(run)
        if run.prior:
            ready = self._restore(run, plan, context, waiting)

        async with trio.open_nursery() as nursery:

            async def follow(first: str) -> None:
                current: str | None = first
                while current is not None:
                    await self._run_step(run, plan, current, context, environ, limiter)
                    done, current = current, None
                    for nxt in plan.dependents[done]:
                        waiting[nxt] -= 1
                        if waiting[nxt] == 0:
                            if current is None:
                                current = nxt
                            else:
                                nursery.start_soon(follow, nxt)

            for root in ready:
                nursery.start_soon(follow, root)

    async def _end_orphans(self, run: _Run) -> None:
        """End the shell processes the dead owner left running, before their steps rerun.

        Its recorded process groups, and on this host any group whose environment says
        the dead runner started it for this execution (it may have died before the
        group was recorded).
        """
        groups: dict[int, str] = {}  # process group -> WFE_STEP_RUN token
        for step_id, (host, pgid) in run.prior_process.items():
            attempt = run.prior[step_id][1]
            if host != HOST:
                self._log(
                    run,
                    step_id,
                    f"attempt {attempt} ran on {host} as process group {pgid} when its runner"
                    " stopped responding; it may still be running there",
                    "system",
                )
            else:
                groups[pgid] = f"{run.id}/{step_id}/{attempt}"
        if run.taken_from is not None:
            left = await trio.to_thread.run_sync(shell.groups_left_by, run.taken_from, run.id)
            groups = {**left, **groups}
        for pgid, token in groups.items():
            step, _, which = token.removeprefix(f"{run.id}/").rpartition("/")
            if await shell.end_orphans(pgid, token, self._kill_grace):
                self._log(
                    run,
                    step or None,
                    f"ended process group {pgid}, left running by attempt {which}'s runner",
                    "system",
                )

    def _restore(
        self, run: _Run, plan: _Plan, context: dict[str, Any], waiting: dict[str, int]
    ) -> list[str]:
        """Take up an execution where its dead owner left it; the steps ready to run.

        Finished steps keep their results and are never run again; a step that was
        running is run again as its next attempt.
        """
        finished: set[str] = set()
        for step_id, (status, _attempt, output) in run.prior.items():
            if step_id in plan.by_id and status not in _SETTLED:
                # Its owner died while it ran: close that attempt; the next one runs.
                host, pid = run.prior_process.get(step_id, (None, None))
                self._recorder.step(
                    {
                        "execution_id": run.id,
                        "step_id": step_id,
                        "position": plan.positions[step_id],
                        "attempt": _attempt,
                        "status": "failed",
                        "started_at": run.prior_started.get(step_id),
                        "finished_at": store.utcnow(),
                        "duration_ms": None,
                        "exit_code": None,
                        "output": None,
                        "error": "its runner stopped responding; taken over",
                        "host": host,
                        "pid": pid,
                    },
                    in_db=True,
                )
            if step_id not in plan.by_id or status not in _SETTLED:
                continue
            finished.add(step_id)
            context["steps"][step_id] = {"output": output, "status": status}
            run.results[step_id] = {"status": status, "attempt": _attempt, "error": None}
            failed = status in _BLOCKING and not plan.by_id[step_id].continue_on_error
            if failed or (
                status == "skipped" and any(n in run.blocked for n in plan.needs[step_id])
            ):
                run.blocked.add(step_id)
        for step_id in finished:
            for nxt in plan.dependents[step_id]:
                waiting[nxt] -= 1
        return [s for s in plan.by_id if s not in finished and waiting[s] == 0]

    async def _run_step(
        self,
        run: _Run,
        plan: _Plan,
        step_id: str,
        context: dict[str, Any],
        environ: Mapping[str, str],
        limiter: trio.CapacityLimiter,
    ) -> None:
        rec = self._recorder
        step = plan.by_id[step_id]
        row: dict[str, Any] = {
            "execution_id": run.id,
            "step_id": step_id,
            "position": plan.positions[step_id],
            "attempt": 1,
            "status": "pending",
            "started_at": None,
            "finished_at": None,
            "duration_ms": None,
            "exit_code": None,
            "output": None,
            "error": None,
            "host": None,
            "pid": None,
        }
        run.results[step_id] = row

        def record(status: str, error: str | None = None, *, settled: bool = False) -> None:
            """Submit the row; ``settled``: it is final and its end time set, no copy needed."""
            row["status"], row["error"] = status, error
            if status != "running" and not settled:
                row["finished_at"] = store.utcnow()
            event = None
            if rec.listeners:
                event = Event(
                    "step",
                    run.id,
                    status=status,
                    step_id=step_id,
                    attempt=row["attempt"],
                    text=error,
                )
            rec.step(row if settled else dict(row), event)

        def started(pgid: int) -> None:
            row["host"], row["pid"] = HOST, pgid
            record(row["status"])

        def conclude(status: str, error: str | None = None) -> None:
            """A step that ends without running: skipped, or failed by its condition."""
            record(status, error)
            if status == "failed":
                run.blocked.add(step_id)
            context["steps"][step_id] = {"output": None, "status": status}

        if run.blocked and not run.blocked.isdisjoint(plan.needs[step_id]):
            run.blocked.add(step_id)
            conclude("skipped", "a step it needs did not succeed")
            return
        if step.if_ is not None:
            try:
                go = expressions.truthy(
                    step.if_
                    if isinstance(step.if_, bool)
                    else expressions.evaluate(expressions.condition(step.if_), context)
                )
            except EngineError as exc:
                conclude("failed", run.mask(f"if: {exc}"))
                return
            if not go:
                conclude("skipped", "its condition was false")
                return

        kind = plan.kinds[step_id]
        retry = step.retry
        status = "failed"
        error: str | None = None
        now_step = steps.INSTANT.get(kind)
        if (
            now_step is not None
            and retry.attempts == 1
            and step_id not in run.prior
            and limiter.available_tokens
        ):
            # Done without waiting on anything: no step context, no slot to wait for
            # (none is held across an await), one timestamp, a checkpoint now and then.
            await self._pace()
            now = row["started_at"] = row["finished_at"] = store.utcnow()
            start = time.perf_counter()
            try:
                outcome = now_step(
                    step, context, lambda stream, text: self._log(run, step_id, text, stream, now)
                )
                row["output"] = run.mask_value(outcome.output)
                status, error = "succeeded", None
            except EngineError as exc:
                status, error = "failed", run.mask(str(exc))
                if not step.continue_on_error:
                    run.blocked.add(step_id)
            row["duration_ms"] = (time.perf_counter() - start) * 1000
            record(status, error, settled=True)
            self._count_step()
            context["steps"][step_id] = {"output": row["output"], "status": status}
            return
        execute = steps.KINDS[kind]
        instant = kind in steps.INSTANT
        first = 1
        if step_id in run.prior:
            # It was running when its owner died: this is its next attempt.
            first = run.prior[step_id][1] + 1
        for attempt in range(first, max(retry.attempts, first) + 1):
            if attempt > 1:
                delay = retry.delay_before(attempt)
                self._log(
                    run,
                    step_id,
                    f"attempt {attempt} of {retry.attempts} in {definition.format_duration(delay)}",
                    "system",
                )
                await trio.sleep(delay)
            async with limiter:
                start = trio.current_time()
                row.update(
                    attempt=attempt,
                    started_at=store.utcnow(),
                    finished_at=None,
                    duration_ms=None,
                    exit_code=None,
                    output=None,
                    pid=None,
                )
                if not instant:
                    record("waiting" if kind == "approval" else "running")
                ctx = steps.StepContext(
                    execution_id=run.id,
                    step_id=step_id,
                    expression_context=context,
                    environ=environ,
                    emit=functools.partial(self._emit, run, step_id),
                    http_client=self._http,
                    kill_grace=self._kill_grace,
                    db=self.store,
                    workflow_name=run.workflow.name,
                    idle=functools.partial(self._idle, run),
                    attempt=attempt,
                    started=started,
                )
                error = None
                try:
                    if step.timeout is not None:
                        with trio.fail_after(step.timeout):
                            outcome = await execute(ctx, step)
                    else:
                        outcome = await execute(ctx, step)
                    status = "succeeded"
                    row.update(output=run.mask_value(outcome.output), exit_code=outcome.exit_code)
                except trio.TooSlowError:
                    status = "timed_out"
                    limit = definition.format_duration(step.timeout or 0)
                    error = f"ran past its timeout of {limit}"
                except StepTimeout as exc:
                    status, error = "timed_out", str(exc)
                except StepError as exc:
                    status, error = "failed", str(exc)
                    row["exit_code"] = exc.exit_code
                except EngineError as exc:
                    status, error = "failed", str(exc)
                row["duration_ms"] = (trio.current_time() - start) * 1000
                record(status, run.mask(error) if error else None)
                self._count_step()
            if status == "succeeded":
                break
            if attempt < max(retry.attempts, first):
                what = status.replace("_", " ")
                self._log(
                    run, step_id, f"attempt {attempt} {what}: {run.mask(error or '')}", "system"
                )

        if status != "succeeded" and not step.continue_on_error:
            run.blocked.add(step_id)
        context["steps"][step_id] = {"output": row["output"], "status": status}

    async def _pace(self) -> None:
        """A checkpoint once the loop has run ``PACE`` seconds without one from here.

        Instant steps never wait, so a chain of them yields only here: often enough that
        other executions, the recorder (and a console) get their turn, rarely enough that
        scheduling does not cost more than the steps.
        """
        now = time.perf_counter()
        if now - self._paced >= PACE:
            await trio.lowlevel.checkpoint()
            self._paced = time.perf_counter()

    def _step_environ(self, run: _Run) -> dict[str, str]:
        env = {**self._environ, **run.workflow.env}
        env["WFE_EXECUTION_ID"] = str(run.id)
        env["WFE_WORKFLOW"] = run.workflow.name
        env["WFE_PYTHON"] = sys.executable
        if self.owner is not None:
            # With WFE_STEP_RUN, it finds a shell this runner leaves behind if it dies
            # before the shell's process group is recorded.
            env[shell.RUNNER] = self.owner
        return env

    def _emit(self, run: _Run, step_id: str, stream: str, text: str) -> None:
        self._log(run, step_id, text, stream)

    def _log(
        self, run: _Run, step_id: str | None, text: str, stream: str, at: datetime | None = None
    ) -> None:
        run.log_seq += 1
        text = run.mask(text)
        self._recorder.log(
            {
                "execution_id": run.id,
                "step_id": step_id,
                "seq": run.log_seq,
                "time": at or store.utcnow(),
                "stream": stream,
                "text": text,
            },
            Event("log", run.id, step_id=step_id, text=text, stream=stream)
            if self._recorder.listeners
            else None,
        )

    @asynccontextmanager
    async def _idle(self, run: _Run) -> AsyncIterator[None]:
        """Give the execution's slot back while a step waits for a human."""
        run.waiting += 1
        if run.waiting == 1 and run.holding:
            self._global.release_on_behalf_of(run)
            run.holding = False
        try:
            yield
        finally:
            run.waiting -= 1
            if run.waiting == 0 and not run.holding:
                with trio.CancelScope(shield=True):
                    await self._global.acquire_on_behalf_of(run)
                run.holding = True

    def _lost(self, execution_ids: set[int]) -> None:
        """Another worker took these over: stop them here; the fence drops our writes."""
        for execution_id in execution_ids:
            self.cancel(execution_id, "lease lost to another worker")

    async def _watch_cancellations(self, interval: float) -> None:
        """Honour ``wfe cancel`` from other processes."""
        while True:
            await trio.sleep(interval)
            ids = [r.id for r in self._runs.values()]
            if not ids:
                continue
            for execution_id in await trio.to_thread.run_sync(
                store.cancel_requested, self.store, ids
            ):
                self.cancel(execution_id, "cancelled by request")


@asynccontextmanager
async def open_executor(
    db: store.Store,
    *,
    max_concurrent_executions: int = 50,
    max_parallel_steps: int = 16,
    kill_grace: float = 5.0,
    cancel_poll_interval: float = 1.0,
    environ: Mapping[str, str] | None = None,
    owner: str | None = None,
    gather: float = GATHER,
) -> AsyncIterator[Executor]:
    """Open an executor that owns its nursery.

    ``gather`` is how long a background commit waits for more changes to join it: longer
    makes fewer, larger commits (the console, which shares its thread with a UI, waits
    longer than a worker).

    Leaving the block waits for the executions it started; if the block is cancelled or
    raises, they are cancelled and recorded ``cancelled``. Either way everything is
    committed before this returns.
    """
    recorder = Recorder(db, owner, gather)
    body_error: BaseException | None = None
    async with httpx.AsyncClient() as client, trio.open_nursery() as services:
        services.start_soon(recorder.run)
        try:
            async with trio.open_nursery() as nursery:
                executor = Executor(
                    db,
                    recorder,
                    nursery,
                    client,
                    max_concurrent_executions=max_concurrent_executions,
                    max_parallel_steps=max_parallel_steps,
                    kill_grace=kill_grace,
                    environ=os.environ if environ is None else environ,
                )
                recorder.on_fenced = executor._lost
                if cancel_poll_interval and not math.isinf(cancel_poll_interval):
                    services.start_soon(executor._watch_cancellations, cancel_poll_interval)
                try:
                    yield executor
                except BaseException as exc:
                    # The block's own error comes out as itself, not wrapped in the
                    # nurseries' exception groups; the executions it leaves are cancelled.
                    body_error = exc
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await recorder.drain()
            services.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
