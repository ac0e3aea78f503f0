"""How an execution ends: its outcome, and what becomes of the steps that never ended."""

from __future__ import annotations

from typing import Any

from engine import store
from engine.runtime.run import Run
from engine.status import FAILURES, ExecutionStatus, StepStatus


def outcome(run: Run) -> tuple[str, str | None]:
    """Succeeded, unless a step failed or timed out without ``continue_on_error``."""
    for step in run.workflow.steps:
        result = run.results.get(step.id)
        if result is None:
            continue
        if result["status"] in FAILURES and not step.continue_on_error:
            what = result["status"].replace("_", " ")
            error = f"step {step.id!r} {what}: {result.get('error') or ''}".rstrip(": ")
            return ExecutionStatus.FAILED, error
    return ExecutionStatus.SUCCEEDED, run.error


# A step in one of these has not ended: an execution that ends closes it.
OPEN = (StepStatus.RUNNING, StepStatus.PENDING, StepStatus.WAITING)


def unfinished_steps(run: Run) -> list[dict[str, Any]]:
    """The rows that close every step the execution never ran to its end.

    Cancelled (or timed out) with the execution; skipped when it ended without them.
    """
    now = store.utcnow()
    status = (
        StepStatus.CANCELLED
        if run.status in (ExecutionStatus.CANCELLED, ExecutionStatus.TIMED_OUT)
        else StepStatus.SKIPPED
    )
    rows = []
    for position, step in enumerate(run.workflow.steps):
        result = run.results.get(step.id)
        if result is None or result["status"] in OPEN:
            rows.append(
                {
                    "execution_id": run.id,
                    "step_id": step.id,
                    "position": position,
                    "attempt": result["attempt"] if result else 1,
                    "status": status,
                    "started_at": result["started_at"] if result else None,
                    "finished_at": now,
                    "duration_ms": None,
                    "exit_code": None,
                    "output": None,
                    "outputs": None,
                    "error": f"execution {run.status.replace('_', ' ')}",
                    "host": None,
                    "pid": None,
                }
            )
    steps = run.workflow.graph.by_id
    for step_id, result in run.results.items():  # items of a foreach step under way
        if step_id not in steps and result.get("status") in OPEN:
            rows.append(
                {
                    **result,
                    "status": status,
                    "finished_at": now,
                    "duration_ms": None,
                    "error": f"execution {run.status.replace('_', ' ')}",
                }
            )
    return rows
