"""What the store hands out: frozen records, never its tables' rows.

Each record's ``as_json`` is what ``--json`` prints for it: a documented contract
(README, "JSON output"), pinned by golden tests. It holds what a script needs, not the
store's bookkeeping (digests, tallies, schedule marks, process groups). Times are
ISO 8601 with their UTC offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_T = TypeVar("_T")


def _of(cls: type[_T], row: Mapping[Any, Any], **columns: str) -> _T:
    """A record from a row of its table (``columns``: fields whose column is named otherwise)."""
    return cls(**{name: row[columns.get(name, name)] for name in _names(cls)})


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """A record's field names (``fields()`` is slow to call once a row)."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class Workflow:
    """A workflow as stored: its definition's text and what the store keeps about it."""

    id: int
    name: str
    description: str
    definition: str  # the YAML text it was added from
    digest: str  # sha256 of that text: a changed file bumps the version
    version: int
    active: bool
    schedule: str | None  # the cron string, if it has a schedule
    source_path: str | None
    created_at: datetime
    updated_at: datetime
    concurrency: int | None = None  # the definition's limit on its executions at once
    # Kept by the store for its own work (the success rate, the scheduler's mark).
    last_execution_id: int | None = None
    runs: int = 0
    succeeded: int = 0
    last_scheduled_at: datetime | None = None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Workflow:
        return _of(cls, row, active="is_active")

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.runs if self.runs else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "active": self.active,
            "schedule": self.schedule,
            "source_path": self.source_path,
            "created_at": _time(self.created_at),
            "updated_at": _time(self.updated_at),
            "definition": self.definition,
        }


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    """A workflow with its last run, for lists."""

    workflow: Workflow
    last_status: str | None
    last_run_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        return self.workflow.success_rate

    def as_json(self) -> dict[str, Any]:
        w = self.workflow
        return {
            "name": w.name,
            "description": w.description,
            "version": w.version,
            "active": w.active,
            "schedule": w.schedule,
            "last_status": self.last_status,
            "last_run_at": _time(self.last_run_at),
            "success_rate": self.success_rate,
        }


@dataclass(frozen=True, slots=True)
class Execution:
    id: int
    workflow_id: int
    workflow_name: str
    version: int  # of the workflow it runs
    params: dict[str, Any]
    status: str
    trigger: str
    cancel_requested: bool
    runner: str | None  # the runner that holds it, once one has claimed it
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None
    parent_id: int | None = None  # a child execution: the one whose step started it
    parent_step: str | None = None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Execution:
        return _of(cls, row, runner="worker")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow_name": self.workflow_name,
            "version": self.version,
            "status": self.status,
            "trigger": self.trigger,
            "params": self.params,
            "runner": self.runner,
            "queued_at": _time(self.queued_at),
            "started_at": _time(self.started_at),
            "finished_at": _time(self.finished_at),
            "duration_ms": self.duration_ms,
            "error": self.error,
            "parent_id": self.parent_id,
            "parent_step": self.parent_step,
        }


@dataclass(frozen=True, slots=True)
class StepRun:
    """One attempt of one step of an execution."""

    execution_id: int
    step_id: str
    position: int  # the step's place in its file
    attempt: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    exit_code: int | None
    output: Any
    error: str | None
    host: str | None  # where a shell step's process group ran
    pid: int | None  # its process group
    outputs: Any = None  # named outputs (a mapping), or None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> StepRun:
        return _of(cls, row)

    def as_json(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "attempt": self.attempt,
            "status": self.status,
            "started_at": _time(self.started_at),
            "finished_at": _time(self.finished_at),
            "duration_ms": self.duration_ms,
            "exit_code": self.exit_code,
            "output": self.output,
            "outputs": self.outputs,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class LogLine:
    execution_id: int
    step_id: str | None
    seq: int  # its place in the execution's log, from 1
    time: datetime
    stream: str  # stdout, stderr, log or system
    text: str

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> LogLine:
        return _of(cls, row)


@dataclass(frozen=True, slots=True)
class Runner:
    """Who runs executions (a worker, a console, a foreground ``wfe run``) and its lease."""

    id: str
    kind: str
    host: str
    pid: int
    concurrency: int
    started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    stopped_at: datetime | None = None

    @classmethod
    def new(cls, id: str, *, kind: str = "worker", host: str, pid: int, concurrency: int) -> Runner:
        """A runner that starts now (its first heartbeat records it)."""
        now = datetime.now(UTC)
        return cls(id, kind, host, pid, concurrency, now, now, now)

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Runner:
        return _of(cls, row)


@dataclass(frozen=True, slots=True)
class Approval:
    """The decision an approval step waits for (or got)."""

    execution_id: int
    step_id: str
    workflow_name: str
    prompt: str
    status: str  # pending, approved or rejected
    reason: str | None
    decided_by: str | None
    requested_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Approval:
        return _of(cls, row)

    def as_json(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "step_id": self.step_id,
            "workflow_name": self.workflow_name,
            "prompt": self.prompt,
            "status": self.status,
            "requested_at": _time(self.requested_at),
            "reason": self.reason,
            "decided_by": self.decided_by,
            "decided_at": _time(self.decided_at),
        }
