"""The execution screen's steps table drawn without a screen: attempts, durations, rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from console.screens import execution_steps
from engine import store
from engine.status import ExecutionStatus, StepStatus

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def run(step: str = "s", attempt: int = 1, **fields: Any) -> store.StepRun:
    values: dict[str, Any] = {
        "execution_id": 1,
        "step_id": step,
        "position": 0,
        "attempt": attempt,
        "status": StepStatus.SUCCEEDED,
        "started_at": NOW - timedelta(seconds=3),
        "finished_at": NOW,
        "duration_ms": 3000.0,
        "exit_code": 0,
        "output": None,
        "error": None,
        "host": None,
        "pid": None,
    }
    values.update(fields)
    return store.StepRun(**values)


def test_attempts_read_as_a_person_would_say_them() -> None:
    assert execution_steps.attempt(run(status=StepStatus.SKIPPED, started_at=None), 3) == ""
    assert execution_steps.attempt(run(attempt=1), 1) == "1"
    assert execution_steps.attempt(run(attempt=2), None) == "2"  # retries unknown
    assert execution_steps.attempt(run(attempt=2), 3) == "2 of 3"
    assert execution_steps.attempt(run(attempt=2), 1) == "2 (taken over)"


def test_a_duration_under_way_runs_with_the_clock() -> None:
    started = NOW - timedelta(seconds=90)
    live = execution_steps.took(None, started, StepStatus.RUNNING, NOW)
    later = execution_steps.took(None, started, StepStatus.RUNNING, NOW + timedelta(minutes=5))
    assert live != later
    assert execution_steps.took(None, started, ExecutionStatus.SUCCEEDED, NOW) == (
        execution_steps.took(None, None, ExecutionStatus.SUCCEEDED, NOW)
    )  # finished without a duration: no guess


def test_rows_follow_the_order_and_show_a_step_not_run_yet_as_pending() -> None:
    runs = {"a": run("a", attempt=2, exit_code=3, error="x" * 80)}
    rows = execution_steps.rows(["b", "a"], runs, {"a": 3}, {}, NOW)
    assert [key for key, _ in rows] == ["b", "a"]
    (_, pending), (_, ran) = rows
    assert pending[0] == "b" and list(pending[2:]) == ["", "", "", "", ""]
    assert "pending" in str(pending[1])
    assert ran[0] == "a" and ran[2] == "2 of 3" and ran[5] == "3" and ran[6] == "x" * 60
