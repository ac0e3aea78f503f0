"""The trio executor: runs executions under limits and records every change durably.

``async with open_executor(store) as executor`` owns a nursery. Limits are
``trio.CapacityLimiter``\\ s: a global one (``max_concurrent_executions``), one per workflow
(its ``concurrency:``) and one per execution (``max_parallel_steps``). Timeouts are cancel
scopes. State changes go to a :class:`~engine.runtime.recorder.Recorder`, which writes
them in batches (group commit) on a worker thread; listeners hear of a change only once
it is committed.

This module holds an execution's life (start, the graph of its steps, its end);
:mod:`.admission` turns a request into a run to start, :mod:`.step_loop` runs one step,
:mod:`.takeover` resumes what a dead runner left, and :mod:`.stops` ends what is stopped
from outside (a cancel from another process, a lease lost, records refused).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import trio

from engine import definition, store
from engine.errors import EngineError
from engine.runtime import admission, endings, step_loop, stops, takeover
from engine.runtime.events import Event, ExecutorStatistics, Listener, StepRate
from engine.runtime.recorder import GATHER, SHUTDOWN_PATIENCE, Recorder
from engine.runtime.run import ExecutionHandle, Run
from engine.status import FAILURES, ExecutionStatus, StepStatus
from engine.steps import processes
from engine.steps.context import MAX_LINE

if TYPE_CHECKING:
    from engine.runtime.session import RunnerSession

logger = logging.getLogger(__name__)

PACE = 0.001  # seconds instant steps may run before they let other tasks go


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
        session: RunnerSession | None = None,
    ) -> None:
        self.store = db
        self.owner = recorder.owner
        self.session = session
        self.recorder = recorder
        self.http = http_client
        self.kill_grace = kill_grace
        self._nursery = nursery
        self._global = trio.CapacityLimiter(max_concurrent_executions)
        self._paced = 0.0  # when pace() last let other tasks go
        self._per_workflow: dict[str, trio.CapacityLimiter] = {}
        self._max_parallel_steps = max_parallel_steps
        self._environ = dict(environ)
        self._runs: dict[int, Run] = {}
        self._steps = StepRate()
        self._freed = trio.Event()  # set (and replaced) each time an execution ends
        # A worker's: the claim its batches make for the slots they free (None: none).
        self.claimer: Callable[[int], store.ClaimRequest | None] | None = None
        self._claimed: list[store.Claim] = []  # taken by a batch, not started yet
        self._reserved = 0  # the executions in them: they have their slots already
        # Slots kept from the queue for what dead runners left (a busy worker's freed
        # slots would all go to the queue, each batch claiming for them, and that work
        # would wait behind the whole queue, shown running on a runner that is gone).
        self.held_back = 0
        recorder.refill = self._refill
        recorder.on_claim = self._on_claim

    # -- public API ---------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self.recorder.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.recorder.listeners.remove(listener)

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
        runs = await admission.queue(
            self.store, name, params, trigger, owner=self.owner, environ=self._environ
        )
        return [self._launch(run) for run in runs]

    async def start_child(
        self, name: str, params: Mapping[str, Any], *, parent: Run, step_id: str
    ) -> ExecutionHandle:
        """Queue and start a child execution of workflow ``name`` for ``parent``'s step
        ``step_id`` (``workflow: NAME``), here, on this executor."""
        (run,) = await admission.queue(
            self.store,
            name,
            [params],
            f"child of {parent.id}",
            owner=self.owner,
            environ=self._environ,
            parent=(parent.id, step_id),
        )
        run.depth = parent.depth + 1
        return self._launch(run)

    async def start_existing(
        self, execution_id: int, *, resume: bool = False, taken_from: str | None = None
    ) -> ExecutionHandle:
        """Run an execution already queued in the store (claimed by this runner).

        ``resume`` reads the steps it has recorded (a take-over, or a re-run that reuses
        results). An execution that cannot start (its workflow gone or disabled, a secret
        missing) is recorded ``failed`` with the reason, never left queued.
        """
        run = await admission.queued(
            self.store,
            self.recorder,
            execution_id,
            self._environ,
            resume=resume,
            taken_from=taken_from,
        )
        return self._launch(run)

    async def start_existing_many(
        self, ids: Sequence[int], *, resume: bool = False
    ) -> list[ExecutionHandle | EngineError]:
        """Run executions already queued (a claim), admitted in one read: each one's
        handle, or the error that kept it from starting (recorded ``failed``)."""
        runs = await admission.queued_many(
            self.store, self.recorder, ids, self._environ, resume=resume
        )
        return [r if isinstance(r, EngineError) else self._launch(r) for r in runs]

    async def start_claimed(self, claim: store.Claim) -> list[ExecutionHandle | EngineError]:
        """Run what a claim took (most recorded running by the claim itself): each one's
        handle, or the error that kept it from starting (recorded ``failed``)."""
        runs = await admission.claimed(self.store, self.recorder, claim, self._environ)
        return [r if isinstance(r, EngineError) else self._launch(r) for r in runs]

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
        if run.cancelled_at is None:
            run.cancelled_at = trio.current_time()  # (after its deadline: it timed out)
        run.scope.cancel()
        if run.hooks is not None:
            run.hooks.cancel()  # cancelled again while its hooks run: they stop too
        return True

    def settle(self, execution_id: int, step_id: str, status: str, text: str) -> bool:
        """An operator's mark: end ``step_id``'s attempt (if one runs) and record it as
        ``status``; a step not started yet is settled when its turn comes."""
        run = self._runs.get(execution_id)
        if run is None:
            return False
        run.marks[step_id] = (status, text)
        scope = run.step_scopes.get(step_id)
        if scope is not None:
            scope.cancel()
        return True

    async def wait_for_room(self) -> None:
        """Until an execution ends (and its slot is free for the next)."""
        await self._freed.wait()

    def busy(self) -> int:
        """Executions holding or waiting for a slot (not those idle, waiting for a human)."""
        return sum(1 for r in self._runs.values() if r.waiting == 0)

    def room(self) -> int:
        """How many more executions would start at once."""
        return max(0, self.takeover_room() - self.held_back)

    def hold_back(self, slots: int) -> None:
        """Keep the next ``slots`` slots that free (at most all of them) from the queue,
        for a take-over (see ``held_back``)."""
        self.held_back = max(0, min(slots, int(self._global.total_tokens)))

    def takeover_room(self) -> int:
        """How many executions a take-over may start here: the room there is, the slots
        held back for it included (see ``held_back``)."""
        return max(0, int(self._global.total_tokens) - self.busy() - self._reserved)

    def has_claimed(self) -> bool:
        """Whether a batch claimed executions that are not started yet."""
        return bool(self._claimed)

    def take_claimed(self) -> list[store.Claim]:
        """What batches claimed for the slots they freed, to be started now (the caller
        starts them before it looks for room: their slots stay theirs meanwhile)."""
        claims, self._claimed = self._claimed, []
        return claims

    def started_claimed(self, claim: store.Claim) -> None:
        """A claim from :meth:`take_claimed` is started: its slots count as busy now."""
        self._reserved -= len(claim.executions)

    def _refill(self, batch: store.Batch) -> store.ClaimRequest | None:
        # The batch ends executions: their slots are free once it commits, so the claim
        # of the next ones goes in the same transaction.
        if self.claimer is None:
            return None
        ending = 0
        for execution_id, _workflow, _status in batch.finished:
            run = self._runs.get(execution_id)
            ending += run is not None and run.waiting == 0
        # (Counted before room() clips at 0: an executor over its slots, a parent
        # taking its slot back, claims only what takes it under them again.)
        room = int(self._global.total_tokens) - self.busy() - self._reserved - self.held_back
        room += ending
        return self.claimer(room) if room > 0 else None

    def _on_claim(self, claim: store.Claim) -> None:
        self._claimed.append(claim)
        self._reserved += len(claim.executions)
        self._freed.set()  # the worker starts them at once
        self._freed = trio.Event()

    def statistics(self) -> ExecutorStatistics:
        running = sum(1 for r in self._runs.values() if r.status == ExecutionStatus.RUNNING)
        return ExecutorStatistics(
            running=running,
            queued=len(self._runs) - running,
            max_concurrent_executions=int(self._global.total_tokens),
            max_parallel_steps=self._max_parallel_steps,
            steps_done=self._steps.total,
            steps_per_second=self._steps.per_second(trio.current_time()),
        )

    # -- for the step loop ----------------------------------------------------

    def log(
        self, run: Run, step_id: str | None, text: str, stream: str, at: datetime | None = None
    ) -> None:
        """Append a line to an execution's log (masked)."""
        run.log_seq += 1
        text = run.masker.cut(text, MAX_LINE + 64)  # (room for a step's own "[line cut]")
        self.recorder.log(
            {
                "execution_id": run.id,
                "step_id": step_id,
                "seq": run.log_seq,
                "time": at or store.utcnow(),
                "stream": stream,
                "text": text,
            },
            Event("log", run.id, step_id=step_id, text=text, stream=stream)
            if self.recorder.listeners
            else None,
        )

    async def pace(self) -> None:
        """A checkpoint once the loop has run ``PACE`` seconds without one from here.

        Instant steps never wait, so a chain of them yields only here: often enough that
        other executions, the recorder (and a console) get their turn, rarely enough that
        scheduling does not cost more than the steps.
        """
        now = time.perf_counter()
        if now - self._paced >= PACE:
            await trio.lowlevel.checkpoint()
            self._paced = time.perf_counter()

    async def holds(self, run: Run) -> bool:
        """Whether this runner still holds ``run``: asked before each step starts."""
        return await stops.holds(self, run)

    async def confirm(self) -> bool:
        """After a silence: stop at once the executions another runner took over."""
        return await stops.confirm(self)

    def count_step(self) -> None:
        self._steps.count(trio.current_time())

    @asynccontextmanager
    async def idle(self, run: Run) -> AsyncIterator[None]:
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

    # -- internals ----------------------------------------------------------

    def _launch(self, run: Run) -> ExecutionHandle:
        self._runs[run.id] = run
        self._nursery.start_soon(self._run_execution, run)
        return ExecutionHandle(run.id, run)

    def _limiter_for(self, wf: definition.Workflow) -> trio.CapacityLimiter | None:
        if wf.concurrency is None:
            return None
        limiter = self._per_workflow.get(wf.name)
        if limiter is None:
            limiter = self._per_workflow[wf.name] = trio.CapacityLimiter(wf.concurrency)
        elif limiter.total_tokens != wf.concurrency:
            limiter.total_tokens = wf.concurrency
        return limiter

    async def _run_execution(self, run: Run) -> None:
        rec = self.recorder
        clock_start: float | None = None
        deadline = math.inf
        ended_normally = False
        try:
            with run.scope:
                limiter = self._limiter_for(run.workflow)
                if run.recorded_start is not None and not self._slots_free(run, limiter):
                    # Its claim recorded it running, but a slot went to another meanwhile
                    # (a child execution): it is queued until it has one.
                    run.recorded_start = None
                    rec.execution(run.id, {"status": ExecutionStatus.QUEUED, "started_at": None})
                try:  # (at once when there is room: the steps to come checkpoint)
                    self._global.acquire_on_behalf_of_nowait(run)
                    # (a cancel that came before this task ran is taken here)
                    await trio.lowlevel.checkpoint_if_cancelled()
                except trio.WouldBlock:
                    await self._global.acquire_on_behalf_of(run)
                run.holding = True
                try:
                    if limiter is not None:
                        await limiter.acquire_on_behalf_of(run)
                    try:
                        clock_start = trio.current_time()
                        run.status = ExecutionStatus.RUNNING
                        run.started = clock_start
                        running = (  # (an event only for someone to tell: a worker has none)
                            Event("execution", run.id, status=ExecutionStatus.RUNNING)
                            if rec.listeners
                            else None
                        )
                        if run.recorded_start is not None:
                            if running is not None:
                                rec.announce(running)  # the claim recorded it
                        else:
                            # Taken over, it keeps the start its first runner recorded.
                            rec.execution(
                                run.id,
                                {
                                    "status": ExecutionStatus.RUNNING,
                                    "started_at": run.first_started or store.utcnow(),
                                },
                                running,
                            )
                        # Its timeout is its own scope's deadline (a scope of its own
                        # would cost each execution as much again): it timed out when
                        # nobody cancelled it before that (see cancel()).
                        deadline = run.scope.deadline = clock_start + run.workflow.timeout
                        try:
                            await self._run_steps(run)
                        finally:
                            run.scope.deadline = math.inf
                    finally:
                        if limiter is not None:
                            limiter.release_on_behalf_of(run)
                finally:
                    if run.holding:
                        self._global.release_on_behalf_of(run)
                        run.holding = False
            if run.refused is not None:
                run.status, run.error = ExecutionStatus.FAILED, run.refused
            elif run.scope.cancelled_caught and (
                run.cancelled_at is None or run.cancelled_at >= deadline
            ):
                run.status = ExecutionStatus.TIMED_OUT
                run.error = "the execution ran past its timeout of " + definition.format_duration(
                    run.workflow.timeout
                )
            elif run.scope.cancelled_caught:
                run.status = ExecutionStatus.CANCELLED
                run.error = run.cancel_reason
            ended_normally = True
            if run.status == ExecutionStatus.RUNNING:
                run.status, run.error = endings.outcome(run)
            await self._run_hooks(run)
        except Exception as exc:  # a bug or a store failure: record it, never leave "running"
            logger.exception("execution %d of %s failed inside wfe", run.id, run.workflow.name)
            run.status = ExecutionStatus.FAILED
            cause = _first_leaf(exc)  # a nursery wraps it in an exception group
            run.error = f"internal error: {type(cause).__name__}: {cause}"
            if self.recorder.error is not None:
                raise  # the store takes no writes and the executor stops: nothing can be kept
        finally:
            self._finish(run, clock_start, ended_normally)

    def _slots_free(self, run: Run, limiter: trio.CapacityLimiter | None) -> bool:
        """Whether ``run`` would take its slots without waiting."""
        return self._global.available_tokens > 0 and (
            limiter is None or limiter.available_tokens > 0
        )

    def _finish(self, run: Run, clock_start: float | None, ended_normally: bool) -> None:
        """Record the execution's end (and its steps that never ended); it is let go of
        once that is committed (written at once, without waiting for more to gather)."""
        if run.status == ExecutionStatus.RUNNING and ended_normally:
            run.status, run.error = endings.outcome(run)
        elif run.status == ExecutionStatus.RUNNING:
            # Cancelled from outside: the executor is shutting down.
            run.status = ExecutionStatus.CANCELLED
            run.error = run.cancel_reason or "cancelled: the executor stopped"
        elif run.status == ExecutionStatus.QUEUED:
            run.status = ExecutionStatus.CANCELLED
            run.error = run.error or run.cancel_reason or "cancelled before it started"
        for row in endings.unfinished_steps(run):
            self.recorder.step(row)
        duration = (trio.current_time() - clock_start) * 1000 if clock_start is not None else None
        if run.first_started is not None and duration is not None:
            duration = (store.utcnow() - run.first_started).total_seconds() * 1000
        self.recorder.execution(
            run.id,
            {
                "status": run.status,
                "finished_at": store.utcnow(),
                "duration_ms": duration,
                "error": run.mask(run.error) if run.error else None,
            },
            Event("execution", run.id, status=run.status, duration_ms=duration, text=run.error)
            if self.recorder.listeners
            else None,
            finished_workflow=run.workflow_id,
            closes_approvals=run.workflow.waits_for_people,
        )
        self.recorder.after_commit(functools.partial(self._let_go, run))

    def _let_go(self, run: Run) -> None:
        """Its end is committed: its slot is free, and whoever waits for it is told."""
        if self._runs.get(run.id) is run:  # (not a later run of the same execution)
            del self._runs[run.id]
        run.results.clear()
        run.done.set()
        self._freed.set()
        self._freed = trio.Event()

    def _context(self, run: Run) -> dict[str, Any]:
        if not run.context:
            run.context = {
                "params": run.params,
                "env": {**self._environ, **run.workflow.env},
                "secrets": run.secrets,
                "steps": {},
                "execution": {"id": run.id},
            }
        return run.context

    async def _run_steps(self, run: Run) -> None:
        if run.prior or run.taken_from:
            await takeover.end_orphans(self, run)
        limiter = trio.CapacityLimiter(self._max_parallel_steps)
        await self._run_graph(run, run.workflow.graph, self._context(run), limiter)

    async def _run_hooks(self, run: Run) -> None:
        """The ``on:`` lists for how the execution ended, after its main steps; they are
        recorded, and the execution's status stays what it is."""
        lists = run.workflow.on.for_end(run.status)
        if not lists or run.lost or run.refused is not None:
            return
        if self._nursery.cancel_scope.cancel_called:
            return  # the runner is stopping: whoever takes the execution over runs them
        context = self._context(run)
        failed = [
            step.id
            for step in run.workflow.steps
            if run.results.get(step.id, {}).get("status") in FAILURES
        ]
        context["execution"] = {
            "id": run.id,
            "status": str(run.status),
            "error": run.mask(run.error) if run.error else None,
            "failed_steps": failed,
        }
        limiter = trio.CapacityLimiter(self._max_parallel_steps)
        with trio.move_on_after(run.workflow.timeout) as run.hooks:
            for name in lists:
                await self._run_graph(run, run.workflow.hook_graphs[name], context, limiter)
        hooks, run.hooks = run.hooks, None
        if hooks.cancelled_caught:
            why = (
                "its hooks ran past the execution's timeout of "
                + definition.format_duration(run.workflow.timeout)
                if trio.current_time() >= hooks.deadline
                else "cancelled while the execution's hooks ran"
            )
            main = run.workflow.graph.by_id
            for step_id, row in run.results.items():
                if step_id.partition("[")[0] not in main and row["status"] in endings.OPEN:
                    step_loop.record(self, row, StepStatus.CANCELLED, why)

    async def _run_graph(
        self,
        run: Run,
        graph: definition.Graph,
        context: dict[str, Any],
        limiter: trio.CapacityLimiter,
    ) -> None:
        """Run a graph of steps (the main one, or a hook list's) to its end."""
        environ = self._step_environ(run)
        if graph.chain and not run.prior:
            # One step after another: in this task, without a nursery or a task of its
            # own (each costs about as much as an instant step does).
            current: str | None = graph.roots[0]
            while current is not None:
                await step_loop.run_step(self, run, graph, current, context, environ, limiter)
                following = graph.dependents[current]
                current = following[0] if following else None
            return
        waiting = graph.waiting()
        ready = list(graph.roots)
        if run.prior:
            ready = takeover.restore(self, run, graph, context, waiting)

        async with trio.open_nursery() as nursery:

            async def follow(first: str) -> None:
                # A chain of steps runs in one task; a fan-out starts one per branch.
                current: str | None = first
                while current is not None:
                    await step_loop.run_step(self, run, graph, current, context, environ, limiter)
                    done, current = current, None
                    for nxt in graph.dependents[done]:
                        waiting[nxt] -= 1
                        if waiting[nxt] == 0:
                            if current is None:
                                current = nxt
                            else:
                                nursery.start_soon(follow, nxt)

            for root in ready:
                nursery.start_soon(follow, root)

    def _step_environ(self, run: Run) -> dict[str, str]:
        env = {**self._environ, **run.workflow.env}
        env["WFE_EXECUTION_ID"] = str(run.id)
        env["WFE_WORKFLOW"] = run.workflow.name
        env["WFE_PYTHON"] = sys.executable
        if self.owner is not None:
            # With WFE_STEP_RUN, it finds a shell this runner leaves behind if it dies
            # before the shell's process group is recorded.
            env[processes.RUNNER] = self.owner
        return env

    def stopping(self) -> None:
        """The runner stops: what cannot be written from now on is tried only so long."""
        self.recorder.patience = SHUTDOWN_PATIENCE


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


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
    session: RunnerSession | None = None,
    gather: float = GATHER,
) -> AsyncIterator[Executor]:
    """Open an executor that owns its nursery.

    ``session`` is the runner it runs for (``owner``: just that runner's id): its writes
    are fenced to what that runner still holds, and after a silence it asks the store
    whether it still holds an execution before starting its next step. ``gather`` is how
    long a background commit waits for more changes to join it: longer makes fewer,
    larger commits (the console, which shares its thread with a UI, waits longer than a
    worker).

    Leaving the block waits for the executions it started; if the block is cancelled or
    raises, they are cancelled and recorded ``cancelled``. Either way everything is
    committed before this returns.
    """
    if session is not None:
        owner = session.id
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
                    session=session,
                )
                if session is not None:
                    session.executor = executor
                recorder.on_fenced = functools.partial(stops.lost, executor)
                recorder.on_refused = functools.partial(stops.refused, executor)
                if cancel_poll_interval and not math.isinf(cancel_poll_interval):
                    services.start_soon(stops.watch_cancellations, executor, cancel_poll_interval)
                try:
                    yield executor
                except BaseException as exc:
                    # The block's own error comes out as itself, not wrapped in the
                    # nurseries' exception groups; the executions it leaves are cancelled.
                    body_error = exc
                    executor.claimer = None  # the ends to come claim nothing more
                    executor.stopping()
                    nursery.cancel_scope.cancel()
        finally:
            recorder.patience = SHUTDOWN_PATIENCE
            with trio.CancelScope(shield=True):
                await recorder.sync()
            services.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
