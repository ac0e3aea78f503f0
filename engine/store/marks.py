"""An operator's marks on steps: settle a stuck or known-good step, with who and why.

``wfe step ID STEP --mark succeeded --reason …`` writes a mark; the runner holding the
execution reads the marks of its executions as it reads cancel requests (every second),
ends the step's attempt (its processes too) and records the step as marked, and its
dependants go on. A step not started yet is settled when its turn comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from engine.errors import EngineError, NotFound
from engine.status import ExecutionStatus, StepStatus
from engine.store.connection import Store, translate_errors
from engine.store.tables import STEP_MARK, STEP_RUN, utcnow

MARKS = (StepStatus.SUCCEEDED, StepStatus.FAILED)
m = STEP_MARK.c


@dataclass(frozen=True, slots=True)
class StepMark:
    id: int
    execution_id: int
    step_id: str
    status: str
    reason: str
    marked_by: str
    marked_at: datetime

    @property
    def text(self) -> str:
        """What the step's run says of it: ``marked succeeded by alice: known good``."""
        return f"marked {self.status} by {self.marked_by}: {self.reason}"


def mark_step(
    store: Store, execution_id: int, step_id: str, status: str, reason: str, by: str
) -> StepMark:
    """Ask the runner of a running execution to settle ``step_id`` as ``status``.

    Raises:
        NotFound: no such execution, or its workflow has no such step.
        EngineError: the execution has ended, the step has ended, or is an approval.
    """
    from engine import definition
    from engine.store.executions import get_execution
    from engine.store.workflows import get_workflow

    if status not in MARKS:
        raise EngineError(f"a step can be marked succeeded or failed, not {status!r}")
    if not reason.strip():
        raise EngineError("say why: --reason TEXT is recorded with the mark")
    e = get_execution(store, execution_id)
    workflow = get_workflow(store, e.workflow_name)
    steps = {s.id: s for s in (*definition.parsed(workflow).steps,)}
    if workflow.version != e.version:
        steps = {}  # the definition it runs is gone: any recorded step may be marked
    base, bracket, _ = step_id.partition("[")
    if bracket and base in steps and steps[base].foreach is not None:
        steps = {**steps, step_id: steps[base]}  # one item of a foreach step
    if steps and step_id not in steps:
        raise NotFound(
            f"execution {execution_id} ({e.workflow_name}) has no step {step_id!r}"
            f" (steps: {', '.join(steps)})"
        )
    if steps and not bracket and steps[step_id].foreach is not None:
        raise EngineError(
            f"{step_id!r} is a foreach step: mark its items ({step_id}[…], as wfe"
            f" executions show {execution_id} lists them)"
        )
    if steps and steps[step_id].kind == "approval":
        raise EngineError(
            f"{step_id!r} waits for a decision: wfe approve {execution_id} {step_id}"
            f" (or wfe reject)"
        )
    if e.status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING):
        raise EngineError(
            f"execution {execution_id} has ended ({e.status}); run {step_id!r} and what"
            f" needs it again: wfe rerun {execution_id} --only {step_id}"
        )
    with translate_errors(store), store.writer.begin() as conn:
        last = conn.execute(
            sa.select(STEP_RUN.c.status)
            .where(STEP_RUN.c.execution_id == execution_id, STEP_RUN.c.step_id == step_id)
            .order_by(STEP_RUN.c.attempt.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None and last not in (
            StepStatus.PENDING,
            StepStatus.RUNNING,
            StepStatus.WAITING,
        ):
            raise EngineError(f"step {step_id!r} of execution {execution_id} has ended ({last})")
        now = utcnow()
        row = {
            "execution_id": execution_id,
            "step_id": step_id,
            "status": status,
            "reason": reason.strip(),
            "marked_by": by,
            "marked_at": now,
            "applied": False,
        }
        new_id = conn.execute(STEP_MARK.insert().values(**row).returning(m.id)).scalar_one()
    return StepMark(new_id, execution_id, step_id, status, reason.strip(), by, now)


def open_marks(store: Store, execution_ids: Iterable[int]) -> list[StepMark]:
    """The marks not carried out yet on these executions, oldest first."""
    ids = list(execution_ids)
    if not ids:
        return []
    with translate_errors(store), store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(m.id, m.execution_id, m.step_id, m.status, m.reason, m.marked_by, m.marked_at)
            .where(m.execution_id.in_(ids), ~m.applied)
            .order_by(m.id)
        ).all()
    return [StepMark(*r) for r in rows]


def marks_applied(store: Store, mark_ids: Iterable[int]) -> None:
    ids = list(mark_ids)
    if ids:
        with translate_errors(store), store.writer.begin() as conn:
            conn.execute(STEP_MARK.update().where(m.id.in_(ids)).values(applied=True))
