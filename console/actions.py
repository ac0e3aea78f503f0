"""What the App does when a screen asks: the questions to ask, then the work.

Each is an async function run in a Textual worker (``App.run_worker``), so it can wait
for a modal's answer (``push_screen_wait``) and for the store, off the UI thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.markup import escape

from console import format
from console.messages import OpenExecution
from console.modals.confirm import ConfirmModal
from console.modals.mark import MarkModal
from console.modals.params import ParamsModal
from console.modals.reason import ReasonModal
from console.modals.save import SavePathModal
from engine import status, store
from engine.errors import EngineError

if TYPE_CHECKING:
    from textual.app import App

    from console.services import Services


async def run_workflow(
    app: App[Any], services: Services, name: str, defaults: dict[str, Any] | None = None
) -> None:
    """Ask for the params (defaults shown), queue it for workers or run it here, then
    open the new execution: whoever started it wants to watch it."""
    queries = services.queries
    try:
        row = await queries.get_workflow(name)
        wf = await queries.parsed(row)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    if not row.active:
        app.notify(f"{name} is disabled; press a to enable it", severity="warning")
        return
    values = await app.push_screen_wait(ParamsModal(wf, defaults))
    if values is None:
        return
    try:
        workers = [] if services.config.run_in_console else await queries.live_workers()
        if workers:
            # Workers are alive: they run it, and it outlives this console.
            queued = await queries.queue(row, values, "console")
            app.notify(f"Queued execution {queued.id} of {name} for the workers")
            app.post_message(OpenExecution(queued.id))
            return
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return

    reply = _opened(app, name, f"of {name} v{row.version}")
    host = services.host
    if host is None or not host.start_execution(name, values, reply):
        app.notify(f"{name} did not start: the embedded executor is not running", severity="error")


def _opened(app: App[Any], what: str, said: str) -> Callable[[int | EngineError], None]:
    """What the embedded executor calls back (from its thread) once an execution it was
    handed has started, or could not: say so, and open it."""

    def reply(result: int | EngineError) -> None:
        if isinstance(result, EngineError):
            app.call_later(app.notify, f"{what} did not start: {result}", severity="error")
        else:
            sep = "" if said.startswith(":") else " "
            app.call_later(app.notify, f"Started execution {result}{sep}{said}")
            app.call_later(app.post_message, OpenExecution(result))

    return reply


async def rerun(app: App[Any], services: Services, execution_id: int) -> None:
    """Run an execution's workflow again, offering its params.

    Only the workflow's current version can run: when the execution ran another, the
    user is asked first, so that "re-run" never silently means different steps.
    """
    queries = services.queries
    try:
        e = await queries.execution(execution_id)
        row = await queries.get_workflow(e.workflow_name)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    if row.version != e.version:
        question = ConfirmModal(
            f"Re-run execution {execution_id} (version {e.version}) as version {row.version}?"
            f"\n\nOnly the current version of [b]{escape(e.workflow_name)}[/b] runs;"
            " its params are offered next.",
            yes="Re-run",
            variant="primary",
        )
        if not await app.push_screen_wait(question):
            return
    await run_workflow(app, services, e.workflow_name, dict(e.params))


async def rerun_many(app: App[Any], services: Services, execution_ids: list[int]) -> None:
    """Ask once, listing them, then run each execution's workflow again with its params.

    Each runs its workflow's current version (the question says which ran another); one
    of a disabled or removed workflow is left out, and said so.
    """
    queries = services.queries
    runs: list[tuple[store.Execution, store.Workflow]] = []
    left_out: list[str] = []
    for execution_id in execution_ids:
        try:
            e = await queries.execution(execution_id)
            row = await queries.get_workflow(e.workflow_name)
        except EngineError as exc:
            left_out.append(f"{execution_id} ({exc})")
            continue
        if not row.active:
            left_out.append(f"{execution_id} ({row.name} is disabled)")
            continue
        runs.append((e, row))
    if not runs:
        app.notify("None of them can run again: " + "; ".join(left_out), severity="warning")
        return
    listed = ", ".join(f"{e.id} ({e.workflow_name})" for e, _row in runs)
    question = f"Re-run {len(runs)} executions with their params: {listed}?"
    older = [str(e.id) for e, row in runs if row.version != e.version]
    if older:
        question += f"\n{', '.join(older)} ran an older version: the current one runs."
    if left_out:
        question += "\nLeft out: " + "; ".join(left_out)
    if not await app.push_screen_wait(ConfirmModal(escape(question), yes="Re-run them")):
        return
    try:
        workers = [] if services.config.run_in_console else await queries.live_workers()
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    started = 0
    for e, row in runs:
        try:
            if workers:
                await queries.queue(row, dict(e.params), "console")
            elif services.host is None or not services.host.start_execution(
                row.name, dict(e.params), lambda _result: None
            ):
                app.notify("The embedded executor is not running", severity="error")
                break
            started += 1
        except EngineError as exc:
            app.notify(f"Execution {e.id}: {exc}", severity="error")
    if started:
        how = "Queued for the workers" if workers else "Started here"
        app.notify(f"{how}: {started} re-run(s) of {listed}")


async def save_log(
    app: App[Any],
    services: Services,
    execution_id: int,
    workflow: str | None,
    *,
    step_id: str | None = None,
) -> None:
    """Ask where (a file named after the execution in the current folder), then write the
    log there as `wfe logs` prints it, and say how many lines went where."""
    what = f"the log of step {step_id}" if step_id else f"the log of execution {execution_id}"
    default = Path.cwd() / f"wfe-{execution_id}-{step_id or workflow or 'log'}.log"
    path = await app.push_screen_wait(SavePathModal(what, default))
    if path is None:
        return
    try:
        count = await services.queries.save_log(execution_id, path, step_id=step_id)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    app.notify(f"Saved {count:,} line(s) of {what.removeprefix('the ')} to {path}")


async def cancel_many(app: App[Any], services: Services, execution_ids: list[int]) -> None:
    """Ask once, listing them, then cancel every execution still under way among these."""
    try:
        found = [await services.queries.execution(i) for i in execution_ids]
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    live = [e.id for e in found if e.status not in status.FINISHED and e.id is not None]
    over = [e.id for e in found if e.status in status.FINISHED]
    if not live:
        app.notify("All of them have finished; there is nothing to cancel", severity="warning")
        return
    question = f"Cancel {len(live)} executions: {', '.join(map(str, live))}?"
    if over:
        question += f"\n({len(over)} more have finished: {', '.join(map(str, over))})"
    if not await app.push_screen_wait(ConfirmModal(escape(question), yes="Cancel them")):
        return
    for execution_id in live:
        if services.host is None or not services.host.cancel(execution_id):
            try:
                await services.queries.request_cancel(execution_id)
            except EngineError as exc:
                app.notify(f"Execution {execution_id}: {exc}", severity="error")
    app.notify(f"Cancelling {len(live)} executions: {', '.join(map(str, live))}")


async def cancel(app: App[Any], services: Services, execution_id: int) -> None:
    """Ask, then cancel: here if this console runs it, else through the store.

    A finished execution is not offered: there is nothing left to stop.
    """
    try:
        e = await services.queries.execution(execution_id)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    if e.status in status.FINISHED:
        app.notify(
            f"Execution {execution_id} has finished ({e.status.replace('_', ' ')});"
            " there is nothing to cancel",
            severity="warning",
        )
        return
    question = ConfirmModal(f"Cancel execution {execution_id}?", yes="Cancel it")
    if not await app.push_screen_wait(question):
        return
    if services.host is not None and services.host.cancel(execution_id):
        app.notify(f"Cancelling execution {execution_id}")
        return
    try:
        previous = await services.queries.request_cancel(execution_id)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    if previous in status.FINISHED:
        app.notify(
            f"Execution {execution_id} had already finished ({previous})", severity="warning"
        )
    elif previous == status.ExecutionStatus.QUEUED:
        app.notify(f"Execution {execution_id} cancelled")
    else:
        app.notify(f"Cancel requested; its runner stops execution {execution_id} within seconds")


async def decide(
    app: App[Any],
    services: Services,
    execution_id: int,
    step_id: str,
    approve: bool,
    reason: str | None = None,
) -> bool:
    """Ask, then approve or reject an approval step; whether it was decided.

    The question shows what is being decided: the whole prompt, the run's params (two
    runs of one workflow differ only there) and how long it has waited. A rejection asks
    for its reason, unless ``reason`` gives it.
    """
    try:
        approval, e = await _approval(services, execution_id, step_id)
    except EngineError as exc:
        app.notify(str(exc), severity="warning")
        return False
    refusal = _no_longer_waits(approval, e)
    if refusal:
        app.notify(refusal, severity="warning")
        return False
    verb = "Approve" if approve else "Reject"
    question = _question(verb, approval, e, services)
    if approve:
        if not await app.push_screen_wait(ConfirmModal(question, yes=verb, variant="success")):
            return False
    elif reason is None:
        reason = await app.push_screen_wait(ReasonModal(question, yes=verb))
        if reason is None:
            return False
    try:
        await services.queries.decide(
            execution_id, step_id, approve=approve, reason=None if approve else reason, by="console"
        )
    except EngineError as exc:
        app.notify(str(exc), severity="warning")
        return False
    app.notify(f"{'Approved' if approve else 'Rejected'} execution {execution_id} step {step_id}")
    return True


async def _approval(
    services: Services, execution_id: int, step_id: str
) -> tuple[store.Approval, store.Execution]:
    e = await services.queries.execution(execution_id)  # waits until the store is open
    db = services.queries.db
    assert db is not None
    # Read as Queries reads: on a worker thread, never on the UI's.
    return await asyncio.to_thread(store.get_approval, db, execution_id, step_id), e


def _no_longer_waits(approval: store.Approval, e: store.Execution) -> str | None:
    """Why an approval cannot be decided any more (None: it waits)."""
    where = f"Execution {e.id} step {approval.step_id}"
    if approval.status == status.ApprovalStatus.CLOSED:
        return f"{where} no longer waits for a decision ({approval.reason})"
    if approval.status != status.ApprovalStatus.PENDING:
        by = f" by {approval.decided_by}" if approval.decided_by else ""
        return f"{where} was already {approval.status}{by}"
    if e.status in status.FINISHED:
        return f"{where} no longer waits: the execution has {e.status.replace('_', ' ')}"
    return None


def _question(verb: str, approval: store.Approval, e: store.Execution, services: Services) -> str:
    params = ", ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in e.params.items()
    )
    return (
        f"{verb} execution {e.id} ({escape(e.workflow_name)}),"
        f" step [b]{escape(approval.step_id)}[/b]?"
        f"\n\n{escape(approval.prompt)}"
        f"\n\n[dim]params[/dim]  {escape(params) if params else 'none'}"
        f"\n[dim]asked[/dim]   {format.ago(approval.requested_at, services.clock())}"
    )


async def mark_step(app: App[Any], services: Services, execution_id: int, step_id: str) -> bool:
    """Ask succeeded or failed and why, then mark the step; its runner settles it."""
    question = (
        f"Settle step [b]{escape(step_id)}[/b] of execution {execution_id}?\n\n"
        "Its attempt is ended (its processes too) and it is recorded as you mark it,"
        " with your reason: what needs it goes on, or is skipped if you mark it failed."
    )
    answer = await app.push_screen_wait(MarkModal(question))
    if answer is None:
        return False
    mark_as, reason = answer
    try:
        mark = await services.queries.mark_step(execution_id, step_id, mark_as, reason, "console")
    except EngineError as exc:
        app.notify(str(exc), severity="warning")
        return False
    app.notify(f"Step {step_id}: {mark.text}; its runner settles it within seconds")
    return True


async def rerun_step(app: App[Any], services: Services, execution_id: int, step_id: str) -> None:
    """Ask, naming what runs again, then run the step and what needs it in a new
    execution that keeps every other step's result; open it."""
    queries = services.queries
    try:
        e = await queries.execution(execution_id)
        row = await queries.get_workflow(e.workflow_name)
        wf = await queries.parsed(row)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    if row.version != e.version or step_id not in wf.graph.by_id:
        app.notify(
            f"Execution {execution_id} ran version {e.version}; only a step of the current"
            f" version {row.version} can run again alone: press R to re-run it all",
            severity="warning",
        )
        return
    again = [s for s in wf.graph.by_id if s in wf.graph.downstream(step_id)]
    shown = ", ".join(again[:8]) + (f" and {len(again) - 8} more" if len(again) > 8 else "")
    question = (
        f"Run step [b]{escape(step_id)}[/b] of execution {execution_id} again?\n\n"
        f"In a new execution: {escape(shown)} run; every other step keeps the result it had."
    )
    if not await app.push_screen_wait(ConfirmModal(question, yes="Re-run", variant="primary")):
        return
    try:
        new = await queries.rerun_only(execution_id, step_id)
        workers = [] if services.config.run_in_console else await queries.live_workers()
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    if workers:
        app.notify(f"Queued execution {new.id} (step {step_id} again) for the workers")
        app.post_message(OpenExecution(new.id))
        return

    reply = _opened(app, step_id, f": step {step_id} again")
    host = services.host
    if host is None or not host.resume_execution(new.id, reply):
        app.notify(
            f"Execution {new.id} is queued: no worker runs it, and the embedded executor"
            " is not running",
            severity="warning",
        )
