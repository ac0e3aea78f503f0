"""The tables: SQLModel declarations, the schema's one source of truth.

Only the store's own modules use these; callers get :mod:`engine.store.records`. The
query modules speak SQLAlchemy Core to the ``__table__`` of each (:data:`WORKFLOW`,
:data:`EXECUTION`, ...): no ORM session, identity map or per-row instrumentation on the
way. A change here needs a migration (``engine/store/migrations``); a test fails when the
migrations and these tables differ.

Times are aware UTC datetimes (SQLModel's ``UTCDateTime`` stores and returns them so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlmodel import JSON, Field, Index, SQLModel

from engine.status import ApprovalStatus, ExecutionStatus, StepStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Row(SQLModel):
    # The store reads and writes through Core, never validating a row: pydantic's
    # validators for these models would be built for nothing (a few ms each, on every
    # command's start-up).
    model_config = ConfigDict(defer_build=True)  # type: ignore[assignment]


class WorkflowRow(_Row, table=True):
    __tablename__ = "workflow"
    __table_args__ = (
        Index("ix_workflow_is_active", "is_active"),
        Index("ix_workflow_updated_at", "updated_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    description: str = ""
    definition: str
    digest: str = Field(max_length=64)
    version: int = 1
    is_active: bool = True
    schedule: str | None = None
    # The definition's own limit on its executions at once (schema 10): a claim leaves
    # out those of a limited workflow another runner holds, without parsing anything.
    concurrency: int | None = None
    source_path: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Kept up to date as executions start and finish, so that a page of workflows with
    # their last run and success rate never scans the executions table (runs and
    # succeeded: with the rows of ``tally`` not folded in yet, see WORKFLOW_READ).
    last_execution_id: int | None = None
    runs: int = 0
    succeeded: int = 0
    # The last schedule tick considered; missed ticks are counted from here.
    last_scheduled_at: datetime | None = None


HELD = "worker IS NOT NULL AND status IN ('queued', 'running')"  # an active execution's runner


class ExecutionRow(_Row, table=True):
    __tablename__ = "execution"
    __table_args__ = (
        Index("ix_execution_status", "status"),
        # Led by started_at (the seed's index) and covering the dashboard's 24-hour
        # tallies, which then never read the table: stats p99 23 -> 14 ms at 1,000,000.
        Index("ix_execution_started_status_duration", "started_at", "status", "duration_ms"),
        Index("ix_execution_workflow_status", "workflow_id", "status"),
        # The charts (schema 5): events per minute, and each workflow's last runs.
        Index("ix_execution_queued_at", "queued_at"),
        Index("ix_execution_finished_status", "finished_at", "status", "started_at"),
        Index("ix_execution_workflow_runs", "workflow_id", "id", "status", "duration_ms"),
        Index("ix_execution_parent", "parent_id", "parent_step"),  # schema 7
        # What a claim can take, oldest first (schema 8): read without a sort.
        Index(
            "ix_execution_claimable",
            "id",
            sqlite_where=sa.text("status = 'queued' AND worker IS NULL"),
            postgresql_where=sa.text("status = 'queued' AND worker IS NULL"),
        ),
        # What runners hold (schema 10): a few rows however long the queue, for a claim
        # to see which limited workflows are held, and a heartbeat's look for the dead's.
        Index(
            "ix_execution_held",
            "worker",
            "workflow_id",
            sqlite_where=sa.text(HELD),
            postgresql_where=sa.text(HELD),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflow.id", ondelete="CASCADE")
    workflow_name: str = Field(max_length=200)
    version: int
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default=ExecutionStatus.QUEUED.value, max_length=16)
    trigger: str = Field(default="manual", max_length=32)
    cancel_requested: bool = False
    worker: str | None = Field(default=None, max_length=100)  # the runner that holds it
    queued_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: str | None = None
    # A child execution (schema 7): the execution and the step (workflow: NAME) that
    # started it.
    parent_id: int | None = None
    parent_step: str | None = Field(default=None, max_length=200)


class StepRunRow(_Row, table=True):
    __tablename__ = "step_run"
    __table_args__ = (Index("ux_step_run_key", "execution_id", "step_id", "attempt", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE")
    step_id: str = Field(max_length=200)
    position: int = 0
    status: str = Field(default=StepStatus.PENDING.value, max_length=16)
    attempt: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    exit_code: int | None = None
    output: Any = Field(default=None, sa_type=JSON(none_as_null=True), nullable=True)
    # Named outputs: what a shell step wrote to $WFE_OUTPUT (schema 6).
    outputs: Any = Field(default=None, sa_type=JSON(none_as_null=True), nullable=True)
    error: str | None = None
    # Where a shell step's process group runs, so that whoever takes the execution over
    # from a dead runner can end what the dead runner left behind.
    host: str | None = Field(default=None, max_length=200)
    pid: int | None = None


class LogLineRow(_Row, table=True):
    __tablename__ = "log_line"
    __table_args__ = (Index("ix_log_line_execution_seq", "execution_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE")
    step_id: str | None = Field(default=None, max_length=200)
    seq: int
    time: datetime
    stream: str = Field(max_length=8)
    text: str


class RunnerRow(_Row, table=True):
    """A runner (worker, console, foreground run), alive while its lease is fresh.

    The table is called ``worker``: it held only workers once.
    """

    __tablename__ = "worker"
    id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(default="worker", max_length=16)  # worker, console or run
    host: str = Field(max_length=200)
    pid: int
    concurrency: int
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    # Its heartbeat plus its own lease: until then nobody takes its work, whatever lease
    # the others run with.
    expires_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None


class ApprovalRow(_Row, table=True):
    """A human's decision an ``approval`` step waits for; it outlives restarts."""

    __tablename__ = "approval"
    execution_id: int = Field(primary_key=True, foreign_key="execution.id", ondelete="CASCADE")
    step_id: str = Field(primary_key=True, max_length=200)
    workflow_name: str = Field(max_length=200)
    prompt: str
    status: str = Field(default=ApprovalStatus.PENDING.value, max_length=16)
    reason: str | None = None
    decided_by: str | None = Field(default=None, max_length=200)
    requested_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None


class StepMarkRow(_Row, table=True):
    """An operator's word on a step (``wfe step ID STEP --mark``): settle it succeeded or
    failed, with who and why, for the runner of its execution to carry out (schema 7)."""

    __tablename__ = "step_mark"
    __table_args__ = (Index("ix_step_mark_open", "execution_id", "applied"),)
    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE")
    step_id: str = Field(max_length=200)
    status: str = Field(max_length=16)
    reason: str
    marked_by: str = Field(max_length=200)
    marked_at: datetime = Field(default_factory=utcnow)
    applied: bool = False


class ActivityRow(_Row, table=True):
    """Steps finished in one second by one runner: the whole store's throughput, cheaply.

    Each group commit adds its count to its runner's row of that second (a row of its own,
    so runners never wait on each other's); the dashboard sums the last minute's rows.
    """

    __tablename__ = "activity"
    second: int = Field(primary_key=True, sa_type=sa.BigInteger)  # since the epoch
    runner: str = Field(primary_key=True, max_length=100)
    steps: int = 0


class TallyRow(_Row, table=True):
    """Executions of one workflow ended by one runner, not yet in the workflow's row.

    A group commit adds its ends here, to its runner's row (a row of its own, as with
    ``activity``: two workers ending the same workflow's executions never wait for each
    other's commit, as they did on the workflow's row); a workflow is read with its
    rows added (:data:`WORKFLOW_READ`), and a runner's rows are folded into the
    workflow's once it has stopped or is gone (:func:`engine.store.fold_tallies`).
    """

    __tablename__ = "tally"
    # No foreign key: its check would lock the workflow's row in every batch (shared
    # by two workers' batches at once), and a batch of a runner that stalled while its
    # workflow was removed would be refused for it. A row is added only for a workflow
    # that exists, and removing a workflow removes its rows.
    workflow_id: int = Field(primary_key=True)
    runner: str = Field(primary_key=True, max_length=100)
    runs: int = 0
    succeeded: int = 0


class LeaseRow(_Row, table=True):
    """A named lease (the scheduler's leadership): one holder until it expires."""

    __tablename__ = "lease"
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=100)
    expires_at: datetime


class MetaRow(_Row, table=True):
    __tablename__ = "wfe_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


def _table(model: type[SQLModel]) -> sa.Table:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


METADATA = SQLModel.metadata
WORKFLOW = _table(WorkflowRow)
EXECUTION = _table(ExecutionRow)
STEP_RUN = _table(StepRunRow)
LOG_LINE = _table(LogLineRow)
RUNNER = _table(RunnerRow)
APPROVAL = _table(ApprovalRow)
LEASE = _table(LeaseRow)
ACTIVITY = _table(ActivityRow)
TALLY = _table(TallyRow)
STEP_MARK = _table(StepMarkRow)
META = _table(MetaRow)


def _tallied(column: str) -> sa.ColumnElement[int]:
    """A workflow's count (``runs``, ``succeeded``) with its runners' unfolded rows."""
    t = TALLY.c
    unfolded = (
        sa.select(sa.func.coalesce(sa.func.sum(t[column]), 0))
        .where(t.workflow_id == WORKFLOW.c.id)
        .scalar_subquery()
    )
    return (WORKFLOW.c[column] + unfolded).label(column)


# A workflow's row as it is read: its tallies with what its runners have not folded yet.
WORKFLOW_READ: tuple[sa.ColumnElement[Any], ...] = (
    *(c for c in WORKFLOW.c if c.name not in ("runs", "succeeded")),
    _tallied("runs"),
    _tallied("succeeded"),
)
