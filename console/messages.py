"""What screens ask the App for. Attributes go down, messages come up.

A screen posts one of these (``self.post_message(OpenExecution(7))``); it bubbles to the
App, which opens the screen, asks the question or starts the work. No screen imports the
App, and none reaches into the engine.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class OpenExecution(Message):
    """Show one execution: its steps and its live log."""

    def __init__(self, execution_id: int) -> None:
        super().__init__()
        self.execution_id = execution_id


class OpenTimeline(Message):
    """Show one execution's steps against wall-clock time."""

    def __init__(self, execution_id: int) -> None:
        super().__init__()
        self.execution_id = execution_id


class OpenWorkflow(Message):
    """Show one workflow: its definition and its runs."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class RunWorkflow(Message):
    """Ask for a workflow's params (``defaults`` filled in), then run it."""

    def __init__(self, name: str, defaults: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.defaults = defaults


class RerunExecution(Message):
    """Run an execution's workflow again, offering its params."""

    def __init__(self, execution_id: int) -> None:
        super().__init__()
        self.execution_id = execution_id


class RerunExecutions(Message):
    """Ask once, then run each of these executions' workflows again (the marked rows)."""

    def __init__(self, execution_ids: list[int]) -> None:
        super().__init__()
        self.execution_ids = execution_ids


class CancelExecutions(Message):
    """Ask once, then cancel all these executions (the rows marked in a list)."""

    def __init__(self, execution_ids: list[int]) -> None:
        super().__init__()
        self.execution_ids = execution_ids


class CancelExecution(Message):
    """Ask, then cancel an execution (here, or through the store for another runner)."""

    def __init__(self, execution_id: int) -> None:
        super().__init__()
        self.execution_id = execution_id


class MarkStep(Message):
    """Ask, then settle a step of a running execution as succeeded or failed (with why)."""

    def __init__(self, execution_id: int, step_id: str) -> None:
        super().__init__()
        self.execution_id = execution_id
        self.step_id = step_id


class RerunStep(Message):
    """Ask, then run one step of an execution again with the steps that need it, every
    other step keeping its result (``wfe rerun --only``)."""

    def __init__(self, execution_id: int, step_id: str) -> None:
        super().__init__()
        self.execution_id = execution_id
        self.step_id = step_id


class DecideApproval(Message):
    """Ask, then approve or reject an approval step that waits.

    A rejection is asked for its reason unless ``reason`` already gives it.
    """

    def __init__(
        self, execution_id: int, step_id: str, approve: bool, reason: str | None = None
    ) -> None:
        super().__init__()
        self.execution_id = execution_id
        self.step_id = step_id
        self.approve = approve
        self.reason = reason
