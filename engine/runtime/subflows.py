"""Child executions: a ``workflow:`` step runs another workflow and waits for its end.

The child is queued with its parent (``parent_id``, ``parent_step``) and run on the same
executor; while it runs, the parent gives its execution slot back (it only waits), so a
runner with one slot still runs both. Cancelling the parent cancels the child; a child
that does not succeed fails the step with its status and error. A runner that takes the
parent over finds the child its dead owner started and waits for that one (another
runner takes the child over), rather than start a second; a retry starts a new one.
Chains are refused past ``MAX_DEPTH`` (calls that come back around are refused when the
files are added, see :mod:`engine.definition.calls`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from engine import store
from engine.definition.models import MAX_DEPTH
from engine.errors import EngineError, StepError
from engine.status import ACTIVE, FINISHED, ExecutionStatus
from engine.steps.context import Outcome

if TYPE_CHECKING:
    from engine.runtime.executor import Executor
    from engine.runtime.run import Run

POLL = 0.25  # seconds between looks at a child another runner runs


async def run_child(
    ex: Executor, run: Run, step_id: str, name: str, params: dict[str, Any]
) -> Outcome:
    """Run workflow ``name`` as a child of ``run``'s step ``step_id``: its outcome."""
    if run.depth + 1 > MAX_DEPTH:
        raise StepError(
            f"workflow: {name} would be {run.depth + 1} calls deep; at most {MAX_DEPTH}"
        )
    db = ex.store
    earlier = [
        c
        for c in await trio.to_thread.run_sync(store.children, db, run.id)
        if c.parent_step == step_id
    ]
    handle = None
    if earlier and earlier[-1].status in ACTIVE:
        child_id = earlier[-1].id  # started before a take-over: still its child
        ex.log(run, step_id, f"waits for child execution {child_id} of {name}", "system")
    else:
        try:
            handle = await ex.start_child(name, params, parent=run, step_id=step_id)
        except EngineError as exc:
            raise StepError(f"workflow: {exc}") from exc
        child_id = handle.id
        ex.log(run, step_id, f"started child execution {child_id} of {name}", "system")
    try:
        async with ex.idle(run):  # it only waits: the child may have its slot
            if handle is not None:
                await handle.wait()
            else:
                while True:
                    child = await trio.to_thread.run_sync(store.get_execution, db, child_id)
                    if child.status in FINISHED:
                        break
                    await trio.sleep(POLL)
    except BaseException:
        with trio.CancelScope(shield=True):
            if not ex.cancel(child_id, f"its parent, execution {run.id}, was cancelled"):
                await trio.to_thread.run_sync(store.request_cancel, db, child_id)
        raise
    child = await trio.to_thread.run_sync(store.get_execution, db, child_id)
    runs = await trio.to_thread.run_sync(
        lambda: store.step_runs(db, child_id, latest_only=True, items=False)
    )
    outputs = {r.step_id: r.output for r in runs}
    if child.status != ExecutionStatus.SUCCEEDED:
        said = f": {child.error}" if child.error else ""
        raise StepError(
            f"child execution {child_id} of {name} {child.status.replace('_', ' ')}{said}"
        )
    return Outcome(output=outputs)
