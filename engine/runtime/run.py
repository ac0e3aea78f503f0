"""One execution in flight: its state, its results so far, and its secrets' masking."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import trio

from engine.secrets import Masker
from engine.status import ExecutionStatus

if TYPE_CHECKING:
    from engine import definition


@dataclass(frozen=True, slots=True)
class Prior:
    """A step's last attempt as the store had it when the execution was taken over."""

    status: str
    attempt: int
    output: Any
    started_at: datetime | None
    host: str | None  # where its shell ran, if it had one
    pid: int | None  # and its process group
    outputs: Any = None  # its named outputs
    error: str | None = None  # why it failed, if it did: the execution's error says it


@dataclass(eq=False)
class Run:
    id: int
    workflow_id: int
    workflow: definition.Workflow
    params: dict[str, Any]
    secrets: dict[str, str]
    trigger: str
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    status: str = ExecutionStatus.QUEUED
    error: str | None = None
    cancel_reason: str | None = None
    cancelled_at: float | None = None  # when it was first cancelled (trio's clock)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    log_seq: int = 0
    started: float | None = None
    holding: bool = False  # does it hold a global execution slot now
    waiting: int = 0  # its steps waiting for a human, which hold no slot
    # On a take-over (or a re-run from a step): each step's last recorded attempt.
    prior: dict[str, Prior] = field(default_factory=dict)
    taken_from: str | None = None  # the runner it was taken over from
    first_started: datetime | None = None  # when that runner had started it
    # The start its claim recorded (claimed and recorded running in one statement):
    # then no write is needed when it takes its slot at once.
    recorded_start: datetime | None = None
    refused: str | None = None  # why the store refused its records, if it did
    lost: bool = False  # another runner took it over: it stops here
    # What its steps' expressions read (params, env, secrets, steps, execution).
    context: dict[str, Any] = field(default_factory=dict)
    hooks: trio.CancelScope | None = None  # while its on: hooks run, what cancels them
    depth: int = 0  # how many parents it has (a child of a workflow: step has one)
    # An operator's marks (wfe step --mark): step id -> (status, what its run says).
    marks: dict[str, tuple[str, str]] = field(default_factory=dict)
    step_scopes: dict[str, trio.CancelScope] = field(default_factory=dict)  # steps under way

    masker: Masker = field(init=False)

    def __post_init__(self) -> None:
        self.masker = Masker(self.secrets.values())

    def mask(self, text: str) -> str:
        return self.masker.text(text)

    def mask_value(self, value: Any) -> Any:
        return self.masker.value(value)


@dataclass(frozen=True)
class ExecutionHandle:
    """An execution the executor has accepted: its id, and a way to wait for its end."""

    id: int
    _run: Run

    async def wait(self) -> str:
        """Wait until the execution has finished and its end is recorded; its status."""
        await self._run.done.wait()
        return self._run.status

    @property
    def status(self) -> str:
        return self._run.status

    @property
    def finished(self) -> bool:
        """True once the execution's end is committed to the store."""
        return self._run.done.is_set()

    @property
    def error(self) -> str | None:
        return self._run.error
