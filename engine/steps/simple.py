"""The ``log`` and ``sleep`` steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import trio

from engine.definition import Step, expressions, parse_duration
from engine.errors import StepError
from engine.steps.context import Outcome, StepContext


async def log(ctx: StepContext, step: Step) -> Outcome:
    return log_now(step, ctx.expression_context, ctx.emit)


def log_now(step: Step, context: Mapping[str, Any], emit: Callable[[str, str], None]) -> Outcome:
    """The ``log`` step, which never waits: render the message, write it to the log."""
    assert step.log is not None
    message = expressions.to_text(expressions.template(step.log).render(context))
    emit("log", message)
    return Outcome(output=message)


async def sleep(ctx: StepContext, step: Step) -> Outcome:
    assert step.sleep is not None
    value = ctx.render(step.sleep) if isinstance(step.sleep, str) else step.sleep
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise StepError(f"sleep: {exc}") from exc
    await trio.sleep(seconds)
    return Outcome(output=seconds)
