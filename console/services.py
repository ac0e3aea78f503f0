"""What screens are handed: store queries off the UI thread, the engine, the clock, probes.

Screens type against :class:`Services`, never against the App. Every query runs on a
worker thread (``asyncio.to_thread``), so the UI thread only ever draws; each screen's
reads are one call here, one thread hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from engine import definition, store
from engine.runtime import scheduler

if TYPE_CHECKING:
    from console.config import Config
    from console.host import EngineHost
    from engine.runtime import ExecutorStatistics

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Dashboard:
    stats: store.Stats
    recent: list[store.Execution]
    workflows: list[store.WorkflowSummary]
    approvals: list[store.Approval]


@dataclass(frozen=True)
class WorkflowPage:
    rows: list[tuple[store.WorkflowSummary, str]]  # each with its schedule's next run
    total: int


@dataclass(frozen=True)
class WorkflowDetail:
    workflow: store.Workflow
    runs: list[store.Execution]
    total: int


@dataclass(frozen=True)
class ExecutionView:
    execution: store.Execution
    window: store.StepWindow


@dataclass(frozen=True)
class HealthView:
    health: store.Health
    runners: list[store.Runner]


class Queries:
    """The store's query functions, each run on a worker thread."""

    def __init__(
        self, db: store.Store, clock: Clock, health: Callable[[store.Store], store.Health]
    ):
        self.db = db
        self._clock = clock
        self._health = health

    async def _off(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- reads ---------------------------------------------------------------------

    async def dashboard(self, *, limit: int = 10) -> Dashboard:
        def read() -> Dashboard:
            db = self.db
            return Dashboard(
                store.stats(db, since=self._clock() - timedelta(hours=24)),
                store.recent_executions(db, limit=limit),
                store.list_workflows(db, limit=limit)[0],
                store.pending_approvals(db, limit=limit),
            )

        return await self._off(read)

    async def workflows(self, *, offset: int, limit: int, search: str | None) -> WorkflowPage:
        def read() -> WorkflowPage:
            page, total = store.list_workflows(self.db, offset=offset, limit=limit, search=search)
            return WorkflowPage([(s, self.schedule_text(s.workflow)) for s in page], total)

        return await self._off(read)

    async def workflow(self, name: str, *, runs: int = 20) -> WorkflowDetail:
        def read() -> WorkflowDetail:
            row = store.get_workflow(self.db, name)
            page, total = store.list_executions(self.db, workflow=name, limit=runs)
            return WorkflowDetail(row, page, total)

        return await self._off(read)

    async def executions(
        self, *, status: str | None, workflow: str | None, offset: int, limit: int
    ) -> tuple[list[store.Execution], int]:
        return await self._off(
            lambda: store.list_executions(
                self.db, status=status, workflow=workflow, offset=offset, limit=limit
            )
        )

    async def execution(self, execution_id: int) -> store.Execution:
        return await self._off(store.get_execution, self.db, execution_id)

    async def execution_view(
        self, execution_id: int, *, start: int, limit: int, tally: bool
    ) -> ExecutionView:
        def read() -> ExecutionView:
            e = store.get_execution(self.db, execution_id)
            window = store.step_window(self.db, execution_id, start=start, limit=limit, tally=tally)
            return ExecutionView(e, window)

        return await self._off(read)

    async def step_order(self, execution_id: int) -> list[str]:
        """The steps in file order, from the definition the execution ran ([] if unknown).

        Parsing a 10,000-step definition takes most of a second: on a thread, once per
        workflow version for the whole process (the definition cache).
        """

        def read() -> list[str]:
            e = store.get_execution(self.db, execution_id)
            wf = store.get_workflow(self.db, e.workflow_name)
            if wf.version != e.version:
                return []
            return [s.id for s in definition.parsed(wf).steps]

        return await self._off(read)

    async def log_tail(
        self, execution_id: int, *, limit: int, before_seq: int | None = None
    ) -> list[store.LogLine]:
        return await self._off(
            lambda: store.log_tail(self.db, execution_id, limit=limit, before_seq=before_seq)
        )

    async def log_after(
        self, execution_id: int, *, after_seq: int, limit: int
    ) -> tuple[list[store.LogLine], int]:
        """Lines after ``after_seq``, and the seq of the log's last line."""

        def read() -> tuple[list[store.LogLine], int]:
            lines = store.log_lines(self.db, execution_id, after_seq=after_seq, limit=limit)
            last = store.last_log_seq(self.db, execution_id) if len(lines) == limit else 0
            return lines, last

        return await self._off(read)

    async def health(self) -> HealthView:
        return await self._off(
            lambda: HealthView(self._health(self.db), store.live_runners(self.db))
        )

    async def live_workers(self) -> list[store.Runner]:
        return await self._off(store.live_runners, self.db)

    async def get_workflow(self, name: str) -> store.Workflow:
        return await self._off(store.get_workflow, self.db, name)

    async def parsed(self, row: store.Workflow) -> definition.Workflow:
        return await self._off(definition.parsed, row)

    def schedule_text(self, row: store.Workflow) -> str:
        """A schedule and its next tick in its own zone (off the UI thread: it parses)."""
        if not row.schedule:
            return "-"
        try:
            schedule = definition.parsed(row).schedule
        except Exception:  # an unparseable stored definition still lists
            return row.schedule
        if schedule is None:
            return "-"
        from zoneinfo import ZoneInfo

        upcoming = scheduler.next_tick(schedule, self._clock()).astimezone(
            ZoneInfo(schedule.timezone)
        )
        return f"{schedule.cron}  next {upcoming:%a %H:%M %Z}"

    # -- writes ----------------------------------------------------------------------

    async def set_active(self, name: str, active: bool) -> store.Workflow:
        return await self._off(store.set_active, self.db, name, active)

    async def toggle_active(self, name: str) -> store.Workflow:
        def write() -> store.Workflow:
            row = store.get_workflow(self.db, name)
            return store.set_active(self.db, name, not row.active)

        return await self._off(write)

    async def remove_workflow(self, name: str) -> int:
        return await self._off(store.remove_workflow, self.db, name)

    async def save_workflows(
        self, items: list[tuple[definition.Workflow, str | None]]
    ) -> list[store.Saved]:
        return await self._off(store.save_workflows, self.db, items)

    async def queue(
        self, row: store.Workflow, params: dict[str, Any], trigger: str
    ) -> store.Execution:
        return await self._off(store.create_execution, self.db, row, params, trigger)

    async def request_cancel(self, execution_id: int) -> str:
        return await self._off(store.request_cancel, self.db, execution_id)

    async def decide(
        self, execution_id: int, step_id: str, *, approve: bool, reason: str | None, by: str
    ) -> store.Approval:
        return await self._off(
            lambda: store.decide(
                self.db, execution_id, step_id, approve=approve, reason=reason, by=by
            )
        )


class Services:
    """Everything a screen may use, handed down from the App."""

    def __init__(
        self,
        db: store.Store,
        *,
        host: EngineHost,
        config: Config,
        clock: Clock,
        memory: Callable[[], int],
        health: Callable[[store.Store], store.Health],
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.queries = Queries(db, clock, health)
        self.host = host
        self.config = config
        self.clock = clock
        self.memory = memory
        self.busy = busy  # a key came in just now: periodic work waits its turn

    def executor_statistics(self) -> ExecutorStatistics | None:
        """The embedded executor's statistics, or None when it is not running."""
        return self.host.statistics()

    @property
    def runs_here(self) -> bool:
        """Whether this console's embedded executor is running."""
        return self.host.running
