"""Step kinds: one module each, one ``async def execute(ctx, step)`` each.

A step kind gets a :class:`StepContext` (rendering, logging, environment) and returns a
:class:`Outcome`, or raises :class:`~engine.errors.StepError` with a message that says
what went wrong in one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.steps import approval, email, http, python, shell, simple, workflow
from engine.steps.context import Outcome, StepContext

if TYPE_CHECKING:
    from engine.definition import Step

KINDS: dict[str, Callable[[StepContext, Step], Awaitable[Outcome]]] = {
    "run": shell.execute,
    "python": python.execute,
    "http": http.execute,
    "email": email.execute,
    "workflow": workflow.execute,
    "sleep": simple.sleep,
    "log": simple.log,
    "approval": approval.execute,
}

# Kinds that finish without waiting on anything: nobody could ever see them running, so
# the executor records only their end, and runs them through a plain function of the
# step, the expression context and a log callback (no step context to build).
INSTANT: dict[str, Callable[[Step, Mapping[str, Any], Callable[[str, str], None]], Outcome]] = {
    "log": simple.log_now
}

__all__ = ["INSTANT", "KINDS", "Outcome", "StepContext"]
