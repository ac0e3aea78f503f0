"""Re-running an execution: the same params, from the start or from one of its steps."""

from __future__ import annotations

from engine import definition, store
from engine.errors import NotFound


def rerun(db: store.Store, execution_id: int, from_step: str | None = None) -> store.Execution:
    """Queue a new execution with the same params.

    With ``from_step``, the steps that neither are it nor follow from it keep the results
    they had (copied, never run again); the executor resumes from there.

    Raises:
        NotFound: no such execution, or its workflow has no step ``from_step``.
    """
    reuse: set[str] = set()
    if from_step is not None:
        old = store.get_execution(db, execution_id)
        graph = definition.parsed(store.get_workflow(db, old.workflow_name)).graph
        if from_step not in graph.by_id:
            raise NotFound(
                f"workflow {old.workflow_name!r} has no step {from_step!r}"
                f" (steps: {', '.join(graph.by_id)})"
            )
        reuse = set(graph.by_id) - graph.downstream(from_step)
    return store.rerun(db, execution_id, reuse)
