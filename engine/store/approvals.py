"""Approvals: what an approval step waits for, decided from any process."""

from __future__ import annotations

import sqlalchemy as sa

from engine.errors import NotFound, StoreError
from engine.status import ACTIVE, ApprovalStatus
from engine.store.connection import Store, translate_errors
from engine.store.records import Approval
from engine.store.tables import APPROVAL, EXECUTION, utcnow

a = APPROVAL.c


def _one(execution_id: int, step_id: str) -> sa.Select[tuple[object, ...]]:
    return sa.select(APPROVAL).where(a.execution_id == execution_id, a.step_id == step_id)


def request_approval(
    store: Store, execution_id: int, step_id: str, workflow_name: str, prompt: str
) -> Approval:
    """The approval a step waits for: created once, found again after a restart."""
    with translate_errors(store), store.writer.begin() as conn:
        row = conn.execute(_one(execution_id, step_id)).mappings().first()
        if row is None:
            conn.execute(
                APPROVAL.insert().values(
                    execution_id=execution_id,
                    step_id=step_id,
                    workflow_name=workflow_name,
                    prompt=prompt,
                    status=ApprovalStatus.PENDING,
                    requested_at=utcnow(),
                )
            )
            row = conn.execute(_one(execution_id, step_id)).mappings().one()
    return Approval.of(row)


def get_approval(store: Store, execution_id: int, step_id: str) -> Approval:
    with translate_errors(store), store.engine.connect() as conn:
        row = conn.execute(_one(execution_id, step_id)).mappings().first()
    if row is None:
        raise NotFound(f"execution {execution_id} has no approval step {step_id!r} waiting")
    return Approval.of(row)


def decide(
    store: Store, execution_id: int, step_id: str, *, approve: bool, reason: str | None, by: str
) -> Approval:
    """Approve or reject a pending approval; refused once it is decided."""
    with translate_errors(store), store.writer.begin() as conn:
        row = conn.execute(_one(execution_id, step_id)).mappings().first()
        if row is None:
            raise NotFound(f"execution {execution_id} has no approval step {step_id!r} waiting")
        _refuse_unless_pending(row, execution_id, step_id)
        done = conn.execute(
            APPROVAL.update()
            .where(
                a.execution_id == execution_id,
                a.step_id == step_id,
                # Still pending as it is written: on PostgreSQL the batch that ends the
                # execution (and closes what it waits for) does not take this lock.
                a.status == ApprovalStatus.PENDING,
            )
            .values(
                status=ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED,
                reason=reason,
                decided_by=by,
                decided_at=utcnow(),
            )
        )
        row = conn.execute(_one(execution_id, step_id)).mappings().one()
        if not done.rowcount:
            _refuse_unless_pending(row, execution_id, step_id)
    return Approval.of(row)


def _refuse_unless_pending(row: sa.RowMapping, execution_id: int, step_id: str) -> None:
    if row["status"] == ApprovalStatus.CLOSED:
        raise StoreError(
            f"execution {execution_id} step {step_id!r} no longer waits for a decision"
            f" ({row['reason']})"
        )
    if row["status"] != ApprovalStatus.PENDING:
        by = f" by {row['decided_by']}" if row["decided_by"] else ""
        raise StoreError(
            f"execution {execution_id} step {step_id!r} was already {row['status']}{by}"
        )


def close_approval(store: Store, execution_id: int, step_id: str, *, reason: str, by: str) -> None:
    """Nobody waits for this approval any more (its step timed out): closed, if pending."""
    with translate_errors(store), store.writer.begin() as conn:
        conn.execute(
            APPROVAL.update()
            .where(
                a.execution_id == execution_id,
                a.step_id == step_id,
                a.status == ApprovalStatus.PENDING,
            )
            .values(status=ApprovalStatus.CLOSED, reason=reason, decided_by=by, decided_at=utcnow())
        )


def pending_approvals(store: Store, *, limit: int = 50) -> list[Approval]:
    """Approvals waiting for a decision in executions still under way, the oldest first."""
    e = EXECUTION.c
    with translate_errors(store), store.engine.connect() as conn:
        return [
            Approval.of(r)
            for r in conn.execute(
                sa.select(APPROVAL)
                .join(EXECUTION, e.id == a.execution_id)
                .where(a.status == ApprovalStatus.PENDING, e.status.in_(ACTIVE))
                .order_by(a.requested_at)
                .limit(limit)
            ).mappings()
        ]
