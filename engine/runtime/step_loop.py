"""One step of one execution: its condition, its attempts, and what it leaves behind.

A step whose dependency did not succeed is skipped; one whose ``if:`` is false is
skipped too. An instant step (``log``) runs straight through when a slot is free; every
other step takes a slot of its execution for each attempt, under its timeout, and is
retried as its ``retry:`` says.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio

from engine import definition, steps, store
from engine.definition import expressions
from engine.errors import EngineError, StepError, StepTimeout
from engine.runtime import fanout, subflows
from engine.runtime.events import Event
from engine.status import ExecutionStatus, StepStatus
from engine.steps import processes

if TYPE_CHECKING:
    from engine.runtime.executor import Executor
    from engine.runtime.run import Run


def new_row(run: Run, step_id: str, position: int) -> dict[str, Any]:
    """A step run's row before its first attempt (a step's, or one item's of a foreach)."""
    return {
        "execution_id": run.id,
        "step_id": step_id,
        "position": position,
        "attempt": 1,
        "status": StepStatus.PENDING,
        "started_at": None,
        "finished_at": None,
        "duration_ms": None,
        "exit_code": None,
        "output": None,
        "outputs": None,
        "error": None,
        "host": None,
        "pid": None,
    }


def record(
    ex: Executor,
    row: dict[str, Any],
    status: str,
    error: str | None = None,
    *,
    settled: bool = False,
) -> None:
    """Submit the row; ``settled``: it is final and its end time set, no copy needed."""
    rec = ex.recorder
    row["status"], row["error"] = status, error
    if status != StepStatus.RUNNING and not settled:
        row["finished_at"] = store.utcnow()
    event = None
    if rec.listeners:
        event = Event(
            "step",
            row["execution_id"],
            status=status,
            step_id=row["step_id"],
            attempt=row["attempt"],
            text=error,
        )
    rec.step(row if settled else dict(row), event)


async def run_step(
    ex: Executor,
    run: Run,
    graph: definition.Graph,
    step_id: str,
    context: dict[str, Any],
    environ: Mapping[str, str],
    limiter: trio.CapacityLimiter,
) -> None:
    """Run one step of ``graph`` (the main steps, or a hook list) to its end, recording
    each attempt."""
    step = graph.by_id[step_id]
    row = run.results[step_id] = new_row(run, step_id, graph.positions[step_id])

    def conclude(status: str, error: str | None = None) -> None:
        """A step that ends without running: skipped, or failed by its condition."""
        record(ex, row, status, error)
        if status == StepStatus.FAILED:
            run.blocked.add(step_id)
        context["steps"][step_id] = {"output": None, "outputs": {}, "status": status}

    if step_id in run.marks:  # an operator settled it before it started
        status, text = run.marks[step_id]
        ex.log(run, step_id, text, "system")
        conclude(status, text)
        return
    failed = bool(run.blocked) and not run.blocked.isdisjoint(graph.needs[step_id])
    try:  # parsed once per text (cached), and checked when the file was added
        condition = expressions.condition(step.if_) if isinstance(step.if_, str) else None
    except EngineError as exc:
        conclude(StepStatus.FAILED, run.mask(f"if: {exc}"))
        return
    # As GitHub does: a condition without a status function means success() && it, so a
    # step whose needs did not all succeed is skipped; failure() or always() runs it.
    if failed and (condition is None or not expressions.status_calls(condition)):
        run.blocked.add(step_id)
        conclude(StepStatus.SKIPPED, "a step it needs did not succeed")
        return
    if step.if_ is not None:
        try:
            if condition is None:
                go = expressions.truthy(step.if_)
            else:
                # In an on: hook, failure() and cancelled() also say how the execution
                # ended (its status is known there); elsewhere a step that can start
                # belongs to an execution not being cancelled.
                ended = context["execution"].get("status")
                so_far = {
                    "failed": failed
                    or ended in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT),
                    "cancelled": ended == ExecutionStatus.CANCELLED,
                }
                go = expressions.truthy(
                    expressions.evaluate(
                        condition, collections.ChainMap({expressions.STATUS: so_far}, context)
                    )
                )
        except EngineError as exc:
            conclude(StepStatus.FAILED, run.mask(f"if: {exc}"))
            return
        if not go and failed:
            run.blocked.add(step_id)  # what needs it is skipped too, as before
        if not go:
            conclude(StepStatus.SKIPPED, "its condition was false")
            return

    if ex.recorder.trouble is not None:
        await ex.recorder.healthy()  # no new step while the store takes no writes
    if step.foreach is not None:
        status = await fanout.run_items(ex, run, step, row, context, environ, limiter)
    else:
        status = await execute(ex, run, step, row, context, environ, limiter)
    if status != StepStatus.SUCCEEDED and not step.continue_on_error:
        run.blocked.add(step_id)
    context["steps"][step_id] = _seen(row, status)


async def execute(
    ex: Executor,
    run: Run,
    step: definition.Step,
    row: dict[str, Any],
    context: Mapping[str, Any],
    environ: Mapping[str, str],
    limiter: trio.CapacityLimiter,
) -> str:
    """Run a step's action (every attempt, recording each) under ``row``'s id: the step's
    own, or one item's of a foreach. Its last status."""
    step_id = row["step_id"]
    if step_id in run.marks:  # an item an operator settled before it started
        settled_as, text = run.marks[step_id]
        ex.log(run, step_id, text, "system")
        record(ex, row, settled_as, text)
        return settled_as
    kind = step.kind
    retry = step.retry
    status: str = StepStatus.FAILED
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
        await ex.pace()
        now = row["started_at"] = row["finished_at"] = store.utcnow()
        start = time.perf_counter()
        try:
            outcome = now_step(
                step, context, lambda stream, text: ex.log(run, step_id, text, stream, now)
            )
            row["output"] = run.mask_value(outcome.output)
            row["outputs"] = run.mask_value(named(outcome))
            status, error = StepStatus.SUCCEEDED, None
        except EngineError as exc:
            status, error = StepStatus.FAILED, run.mask(str(exc))
        row["duration_ms"] = (time.perf_counter() - start) * 1000
        record(ex, row, status, error, settled=True)
        ex.count_step()
        return status
    first = 1
    if step_id in run.prior:
        # It was running when its owner died: this is its next attempt.
        first = run.prior[step_id].attempt + 1
    with trio.CancelScope() as marked:  # cancelled by an operator's mark (Executor.settle)
        run.step_scopes[step_id] = marked
        try:
            status = await _attempts(ex, run, step, row, context, environ, limiter, first)
        finally:
            run.step_scopes.pop(step_id, None)
    if marked.cancelled_caught and step_id in run.marks:
        status, text = run.marks[step_id]
        ex.log(run, step_id, text, "system")
        if row["started_at"] is not None and row["duration_ms"] is None:
            started = row["started_at"]
            row["duration_ms"] = (store.utcnow() - started).total_seconds() * 1000
        record(ex, row, status, text)
    return status


async def _attempts(
    ex: Executor,
    run: Run,
    step: definition.Step,
    row: dict[str, Any],
    context: Mapping[str, Any],
    environ: Mapping[str, str],
    limiter: trio.CapacityLimiter,
    first: int,
) -> str:
    """Each attempt of a step, as its retry: says: the last one's status."""
    step_id = row["step_id"]
    kind = step.kind
    retry = step.retry
    instant = kind in steps.INSTANT
    status: str = StepStatus.FAILED
    error: str | None = None
    for attempt in range(first, max(retry.attempts, first) + 1):
        if attempt == first > 1:
            ex.log(run, step_id, f"attempt {attempt}: its runner stopped responding", "system")
        elif attempt > 1:
            delay = retry.delay_before(attempt)
            ex.log(
                run,
                step_id,
                f"attempt {attempt} of {retry.attempts} in {definition.format_duration(delay)}",
                "system",
            )
            await trio.sleep(delay)
        async with limiter:
            if not await ex.holds(run):
                await trio.lowlevel.checkpoint()  # taken over: cancelled, it stops here
            start = trio.current_time()
            row.update(
                attempt=attempt,
                started_at=store.utcnow(),
                finished_at=None,
                duration_ms=None,
                exit_code=None,
                output=None,
                outputs=None,
                pid=None,
            )
            if not instant:
                record(ex, row, StepStatus.WAITING if kind == "approval" else StepStatus.RUNNING)

            def started(pgid: int) -> None:
                """Where the step's processes run, recorded; listeners heard it start."""
                row["host"], row["pid"] = processes.HOST, pgid
                ex.recorder.step(dict(row), None)

            ctx = steps.StepContext(
                execution_id=run.id,
                step_id=step_id,
                expression_context=context,
                environ=environ,
                emit=functools.partial(_emit, ex, run, step_id),
                http_client=ex.http,
                kill_grace=ex.kill_grace,
                db=ex.store,
                workflow_name=run.workflow.name,
                idle=functools.partial(ex.idle, run),
                attempt=attempt,
                started=started,
                mask=run.masker,
                run_child=functools.partial(subflows.run_child, ex, run, step_id),
            )
            status, error = await _attempt(ctx, step, row, run)
            row["duration_ms"] = (trio.current_time() - start) * 1000
            record(ex, row, status, run.mask(error) if error else None)
            ex.count_step()
        if status == StepStatus.SUCCEEDED:
            break
        if attempt < max(retry.attempts, first):
            what = status.replace("_", " ")
            ex.log(run, step_id, f"attempt {attempt} {what}: {run.mask(error or '')}", "system")
    return status


async def _attempt(
    ctx: steps.StepContext, step: definition.Step, row: dict[str, Any], run: Run
) -> tuple[str, str | None]:
    """One attempt of a step under its timeout: its status and error."""
    execute = steps.KINDS[step.kind]
    try:
        if step.timeout is not None:
            with trio.fail_after(step.timeout):
                outcome = await execute(ctx, step)
        else:
            outcome = await execute(ctx, step)
    except trio.TooSlowError:
        limit = definition.format_duration(step.timeout or 0)
        return StepStatus.TIMED_OUT, f"ran past its timeout of {limit}"
    except StepTimeout as exc:
        return StepStatus.TIMED_OUT, str(exc)
    except StepError as exc:
        row["exit_code"] = exc.exit_code
        return StepStatus.FAILED, str(exc)
    except EngineError as exc:
        return StepStatus.FAILED, str(exc)
    row.update(
        output=run.mask_value(outcome.output),
        outputs=run.mask_value(named(outcome)),
        exit_code=outcome.exit_code,
    )
    return StepStatus.SUCCEEDED, None


def named(outcome: steps.Outcome) -> dict[str, Any] | None:
    """A step's named outputs: what a shell step wrote to $WFE_OUTPUT, or a python or
    http step's output where it is a mapping."""
    if outcome.outputs is not None:
        return outcome.outputs
    if isinstance(outcome.output, Mapping):
        return dict(outcome.output)
    return None


def _seen(row: Mapping[str, Any], status: str) -> dict[str, Any]:
    """What later steps' expressions read of a step: ``steps.ID.output|outputs|status``."""
    return {"output": row["output"], "outputs": row["outputs"] or {}, "status": status}


def _emit(ex: Executor, run: Run, step_id: str, stream: str, text: str) -> None:
    ex.log(run, step_id, text, stream)
