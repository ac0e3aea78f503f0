"""Re-running an execution: the same params, from the start or from one of its steps."""

from __future__ import annotations

from engine import definition, store
from engine.errors import NotFound


def rerun(
    db: store.Store,
    execution_id: int,
    from_step: str | None = None,
    *,
    only: str | None = None,
) -> store.Execution:
    """Queue a new execution with the same params.

    With ``from_step``, the steps that neither are it nor follow from it keep the results
    they had if they succeeded or were skipped (copied, never run again; the others run
    again); the executor resumes from there. With ``only``, that step and the steps that
    follow from it run, and every other step keeps the result it had, whatever it was.

    Raises:
        NotFound: no such execution, or its workflow has no such step.
    """
    reuse: set[str] = set()
    step = only or from_step
    if step is not None:
        old = store.get_execution(db, execution_id)
        graph = definition.parsed(store.get_workflow(db, old.workflow_name)).graph
        if step not in graph.by_id:
            raise NotFound(
                f"workflow {old.workflow_name!r} has no step {step!r}"
                f" (steps: {', '.join(graph.by_id)})"
            )
        reuse = set(graph.by_id) - graph.downstream(step)
    return store.rerun(db, execution_id, reuse, any_result=only is not None)
