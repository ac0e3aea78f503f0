"""The status names, in one place.

An execution goes ``queued → running → succeeded | failed | cancelled | timed_out``; a
step ``pending → running (or waiting, for an approval) → succeeded | failed | skipped |
cancelled | timed_out``. Both are :class:`enum.StrEnum`\\ s, so a member equals the text
the store holds (``ExecutionStatus.RUNNING == "running"``) and goes into SQL as it is.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # an approval waiting for a human
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CLOSED = "closed"  # nobody waits for it any more: its step timed out, its execution ended


class RunnerKind(StrEnum):
    """What holds a lease on executions: a ``wfe worker``, a console, a foreground run."""

    WORKER = "worker"
    CONSOLE = "console"
    RUN = "run"


#: Executions (or steps) that have ended, one way or another.
FINISHED: frozenset[str] = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
    }
)
#: Executions that are not over: someone runs them, or will.
ACTIVE: frozenset[str] = frozenset({ExecutionStatus.QUEUED, ExecutionStatus.RUNNING})
#: Ends that count as a failure in the tallies and the success rate.
FAILURES: frozenset[str] = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})
#: Steps whose result is final: never run again, kept on a take-over or a re-run.
SETTLED: frozenset[str] = FINISHED | {StepStatus.SKIPPED}
#: A step that ended this way stops the steps that need it (unless continue_on_error).
BLOCKING: frozenset[str] = frozenset(
    {StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED}
)
#: Steps that are under way: running, or waiting for a human.
UNDER_WAY: frozenset[str] = frozenset({StepStatus.RUNNING, StepStatus.WAITING})

#: How a status is drawn, on the command line and in the console (with its colour there).
SYMBOLS: dict[str, str] = {
    ExecutionStatus.SUCCEEDED: "✓",
    ExecutionStatus.FAILED: "✗",
    ExecutionStatus.TIMED_OUT: "⏱",
    ExecutionStatus.CANCELLED: "⊘",
    StepStatus.SKIPPED: "↷",
    ExecutionStatus.RUNNING: "▶",
    ExecutionStatus.QUEUED: "…",
    StepStatus.PENDING: "·",
    StepStatus.WAITING: "?",
}
