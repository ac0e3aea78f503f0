"""The ``workflow:`` step: another workflow, run as a child execution to its end.

Its params are the step's ``with:`` (rendered); its output is the child's steps' outputs
by step id, so ``${{ steps.ID.outputs.STEP }}`` reads one. The executor runs the child
(:mod:`engine.runtime.subflows`); a child that does not succeed fails the step.
"""

from __future__ import annotations

from engine.definition import Step
from engine.errors import StepError
from engine.steps.context import Outcome, StepContext


async def execute(ctx: StepContext, step: Step) -> Outcome:
    assert step.workflow is not None
    if ctx.run_child is None:
        raise StepError("workflow: this runner cannot start child executions")
    params = ctx.render(step.with_)
    return await ctx.run_child(step.workflow, params)
