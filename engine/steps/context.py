"""What a step kind may use while it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from engine.definition import expressions
from engine.secrets import Masker

if TYPE_CHECKING:
    from engine import store

OUTPUT_CAP = 64 * 1024  # bytes of a step's output kept
MAX_LINE = 16 * 1024  # characters of one log line kept


@dataclass(frozen=True)
class Outcome:
    output: Any = None
    exit_code: int | None = None
    outputs: dict[str, str] | None = None  # named outputs ($WFE_OUTPUT), if any


@dataclass
class StepContext:
    """Rendering, logging and environment for one attempt of one step."""

    execution_id: int
    step_id: str
    expression_context: Mapping[str, Any]
    environ: Mapping[str, str]
    emit: Callable[[str, str], None]  # (stream, text) -> appended to the execution's log
    http_client: httpx.AsyncClient
    kill_grace: float = 5.0
    db: store.Store | None = None  # the store, for steps that wait on it (approval)
    workflow_name: str = ""
    idle: Callable[[], AbstractAsyncContextManager[None]] | None = None
    attempt: int = 1
    # The execution's secrets: whatever a step cuts short, it masks first.
    mask: Masker = field(default_factory=Masker)
    # A step that starts a process group says so: it is recorded on the step run.
    started: Callable[[int], None] = lambda pgid: None
    # A workflow: step runs another workflow through this (the executor's), to its end.
    run_child: Callable[[str, dict[str, Any]], Awaitable[Outcome]] | None = None

    @property
    def token(self) -> str:
        """``WFE_STEP_RUN``'s value in a shell step's environment: which attempt it is."""
        return f"{self.execution_id}/{self.step_id}/{self.attempt}"

    def render(self, value: Any) -> Any:
        """Render templates inside ``value`` (strings, lists and mappings)."""
        if isinstance(value, str):
            return expressions.template(value).render(self.expression_context)
        if isinstance(value, Mapping):
            return {k: self.render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v) for v in value]
        return value

    def render_text(self, value: str) -> str:
        return expressions.to_text(self.render(value))

    def log(self, text: str, stream: str = "log") -> None:
        self.emit(stream, text)


def cap_text(
    text: str, limit: int = OUTPUT_CAP, mask: Masker | None = None, printed: int | None = None
) -> str:
    """``text`` masked, then cut to ``limit`` bytes of UTF-8, saying so at the end.

    ``printed``: how many bytes there were in all, when ``text`` holds only their start.
    """
    if mask is not None:
        text = mask.text(text)
    data = text.encode()
    total = max(len(data), printed or 0)
    if total <= limit:
        return text
    kept = data[:limit].decode(errors="ignore")
    if mask is not None:
        kept = mask.edge(kept)
    return f"{kept}\n[output truncated: {total:,} bytes, the first {limit:,} kept]"
