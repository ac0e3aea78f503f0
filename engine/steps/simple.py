"""The ``log`` and ``sleep`` steps."""

from __future__ import annotations

import trio

from engine.definition import Step, parse_duration
from engine.errors import StepError
from engine.steps.context import Outcome, StepContext


async def log(ctx: StepContext, step: Step) -> Outcome:
    assert step.log is not None
    message = ctx.render_text(step.log)
    ctx.log(message)
    return Outcome(output=message)


async def sleep(ctx: StepContext, step: Step) -> Outcome:
    assert step.sleep is not None
    value = ctx.render(step.sleep) if isinstance(step.sleep, str) else step.sleep
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise StepError(f"sleep: {exc}") from None
    await trio.sleep(seconds)
    return Outcome(output=seconds)
