"""What the App does when a screen asks: the questions to ask, then the work.

Each is an async function run in a Textual worker (``App.run_worker``), so it can wait
for a modal's answer (``push_screen_wait``) and for the store, off the UI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.modals.confirm import ConfirmModal
from console.modals.params import ParamsModal
from engine import status
from engine.errors import EngineError

if TYPE_CHECKING:
    from textual.app import App

    from console.services import Services


async def run_workflow(
    app: App[Any], services: Services, name: str, defaults: dict[str, Any] | None = None
) -> None:
    """Ask for the params (defaults shown), then queue it for workers or run it here."""
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
            return
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return

    def reply(result: int | EngineError) -> None:
        if isinstance(result, EngineError):
            app.call_later(app.notify, str(result), severity="error")
        else:
            app.call_later(app.notify, f"Started execution {result} of {name}")

    host = services.host
    if host is None or not host.start_execution(name, values, reply):
        app.notify("The embedded executor is not running", severity="error")


async def rerun(app: App[Any], services: Services, execution_id: int) -> None:
    """Run an execution's workflow again, offering its params."""
    try:
        e = await services.queries.execution(execution_id)
    except EngineError as exc:
        app.notify(str(exc), severity="error")
        return
    await run_workflow(app, services, e.workflow_name, dict(e.params))


async def cancel(app: App[Any], services: Services, execution_id: int) -> None:
    """Ask, then cancel: here if this console runs it, else through the store."""
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
    app: App[Any], services: Services, execution_id: int, step_id: str, approve: bool
) -> bool:
    """Ask, then approve or reject an approval step; whether it was decided."""
    verb = "Approve" if approve else "Reject"
    question = ConfirmModal(f"{verb} execution {execution_id}, step [b]{step_id}[/b]?", yes=verb)
    if not await app.push_screen_wait(question):
        return False
    try:
        await services.queries.decide(
            execution_id, step_id, approve=approve, reason=None, by="console"
        )
    except EngineError as exc:
        app.notify(str(exc), severity="warning")
        return False
    app.notify(f"{verb}d execution {execution_id} step {step_id}")
    return True
