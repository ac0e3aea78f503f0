"""The ``approval:`` step: wait for a human to approve or reject, holding no slot.

The request is stored, so a restart (or a take-over by another worker) waits for the same
decision, and the timeout counts from when it was first asked for. ``wfe approve`` /
``wfe reject`` or the console decide it, from any process.
"""

from __future__ import annotations

import contextlib
import functools

import trio

from engine import store
from engine.definition import Step, format_duration
from engine.errors import StepError, StepTimeout
from engine.status import ApprovalStatus
from engine.steps.context import Outcome, StepContext

POLL = 0.5  # seconds between looks at the store


async def execute(ctx: StepContext, step: Step) -> Outcome:
    spec = step.approval
    db = ctx.db
    assert spec is not None and db is not None
    prompt = ctx.render_text(spec.prompt)
    request = await trio.to_thread.run_sync(
        lambda: store.request_approval(db, ctx.execution_id, ctx.step_id, ctx.workflow_name, prompt)
    )
    ctx.log(
        f"waiting for approval: {prompt} (wfe approve {ctx.execution_id} {ctx.step_id})", "system"
    )
    idle = ctx.idle() if ctx.idle is not None else contextlib.nullcontext()
    async with idle:
        while True:
            row = await trio.to_thread.run_sync(
                store.get_approval, db, ctx.execution_id, ctx.step_id
            )
            if row.status == ApprovalStatus.APPROVED:
                ctx.log(
                    f"approved by {row.decided_by}" + (f": {row.reason}" if row.reason else ""),
                    "system",
                )
                return Outcome(output={"approved_by": row.decided_by, "reason": row.reason})
            if row.status == ApprovalStatus.REJECTED:
                raise StepError(
                    f"rejected by {row.decided_by}" + (f": {row.reason}" if row.reason else "")
                )
            if spec.timeout is not None:
                waited = (store.utcnow() - request.requested_at).total_seconds()
                if waited >= spec.timeout:
                    why = f"no decision within {format_duration(spec.timeout)}"
                    await trio.to_thread.run_sync(
                        functools.partial(
                            store.close_approval,
                            db,
                            ctx.execution_id,
                            ctx.step_id,
                            reason=why,
                            by="wfe",
                        )
                    )
                    raise StepTimeout(why)
            await trio.sleep(POLL)
