"""What screens are handed: store queries off the UI thread, the engine, the clock, probes.

Screens type against :class:`Services`, never against the App. Every query runs on a
worker thread (``asyncio.to_thread``), so the UI thread only ever draws; each screen's
reads are one call here, one thread hop. The store itself is opened after the first
frame (SQLAlchemy takes a third of a second to import): until it is, queries wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from engine import store  # its functions import SQLAlchemy when first called
from engine.errors import EngineError
from engine.status import ACTIVE

if TYPE_CHECKING:
    from console.config import Config
    from console.host import EngineHost
    from engine import definition
    from engine.runtime import ExecutorStatistics

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], datetime]


class SaveFailed(EngineError):
    """A log could not be written where the user asked."""


ACTIVITY_SECONDS = 60  # the dashboard's steps/s chart
LAST_RUNS = 10  # the runs each workflow's strip shows (outcomes and durations)


@dataclass(frozen=True)
class Dashboard:
    stats: store.Stats
    recent: list[store.Execution]
    workflows: list[store.WorkflowSummary]
    approvals: list[store.Approval]
    runners: dict[str, store.Runner]  # of the executions under way among them
    activity: list[int]  # steps finished by every runner in each of the last seconds
    params: dict[int, dict[str, Any]]  # each waiting approval's execution's params
    last_runs: dict[int, store.LastRuns]  # each workflow shown's last runs (by its id)
    trends: store.Charts  # the whole store's last hour


@dataclass(frozen=True)
class ExecutionPage:
    rows: list[store.Execution]
    total: int
    runners: dict[str, store.Runner]  # of the executions under way among them


@dataclass(frozen=True)
class WorkflowPage:
    rows: list[tuple[store.WorkflowSummary, str]]  # each with its schedule's next run
    total: int
    last_runs: dict[int, store.LastRuns]  # each one's last runs (by its id)


@dataclass(frozen=True)
class WorkflowDetail:
    workflow: store.Workflow
    runs: list[store.Execution]
    total: int


@dataclass(frozen=True)
class ExecutionView:
    execution: store.Execution
    window: store.StepWindow
    # The child executions its workflow: steps started, the latest of each step.
    children: dict[str, store.Execution] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphData:
    execution: store.Execution
    workflow: store.Workflow  # as it is now
    definition: definition.Workflow | None  # the version the execution ran, if still kept
    statuses: dict[str, str]  # each recorded step's last status


@dataclass(frozen=True)
class StatusView:
    execution: store.Execution
    statuses: dict[str, str]  # each recorded step's last status


@dataclass(frozen=True)
class TimelineView:
    execution: store.Execution
    runs: list[store.StepRun]  # every attempt, in file order


@dataclass(frozen=True)
class HealthView:
    health: store.Health
    runners: list[store.Runner]
    schema_supported: int  # the schema version this wfe writes


def _runners_of(db: store.Store, executions: list[store.Execution]) -> dict[str, store.Runner]:
    """The runners holding the executions under way: how fresh their heartbeats are."""
    return store.runners_by_id(
        db, {e.runner for e in executions if e.status in ACTIVE and e.runner is not None}
    )


class Queries:
    """The store's query functions, each run on a worker thread once the store is open."""

    def __init__(
        self, clock: Clock, health: Callable[[store.Store], store.Health] | None = None
    ) -> None:
        self._db: store.Store | None = None
        self._ready = asyncio.Event()
        self._clock = clock
        self._health = health

    def attach(self, db: store.Store) -> None:
        """The store is open: queries go ahead."""
        self._db = db
        self._ready.set()

    @property
    def db(self) -> store.Store | None:
        return self._db

    async def _off(
        self, fn: Callable[Concatenate[store.Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        await self._ready.wait()
        assert self._db is not None
        return await asyncio.to_thread(fn, self._db, *args, **kwargs)

    # -- reads ---------------------------------------------------------------------

    async def dashboard(self, *, limit: int = 10) -> Dashboard:
        def read(db: store.Store) -> Dashboard:
            recent = store.recent_executions(db, limit=limit)
            approvals = store.pending_approvals(db, limit=limit)
            workflows = store.list_workflows(db, limit=limit)[0]
            # The second under way is still counting: the chart ends at the last whole one.
            activity = store.activity(db, seconds=ACTIVITY_SECONDS + 1, now=self._clock())
            return Dashboard(
                store.stats(db, since=self._clock() - timedelta(hours=24)),
                recent,
                workflows,
                approvals,
                _runners_of(db, recent),
                activity[:-1],
                {a.execution_id: store.get_execution(db, a.execution_id).params for a in approvals},
                store.last_runs(db, [w.workflow.id or 0 for w in workflows], runs=LAST_RUNS),
                store.charts(db, hours=1, now=self._clock()),
            )

        return await self._off(read)

    async def workflows(
        self,
        *,
        offset: int,
        limit: int,
        search: str | None,
        order: tuple[str, bool] = ("name", False),
    ) -> WorkflowPage:
        def read(db: store.Store) -> WorkflowPage:
            page, total = store.list_workflows(
                db,
                offset=offset,
                limit=limit,
                search=search,
                order=order[0],
                descending=order[1],
            )
            runs = store.last_runs(db, [s.workflow.id or 0 for s in page], runs=LAST_RUNS)
            return WorkflowPage([(s, self.schedule_text(s.workflow)) for s in page], total, runs)

        return await self._off(read)

    async def charts(self, hours: int) -> store.Charts:
        """The whole store's charts over the last ``hours`` (1 or 24)."""
        return await self._off(lambda db: store.charts(db, hours=hours, now=self._clock()))

    async def workflow(self, name: str, *, runs: int = 20) -> WorkflowDetail:
        def read(db: store.Store) -> WorkflowDetail:
            row = store.get_workflow(db, name)
            page, total = store.list_executions(db, workflow=name, limit=runs)
            return WorkflowDetail(row, page, total)

        return await self._off(read)

    async def executions(
        self,
        *,
        status: str | None,
        search: str | None,
        offset: int,
        limit: int,
        order: tuple[str, bool] = ("id", True),
    ) -> ExecutionPage:
        def read(db: store.Store) -> ExecutionPage:
            rows, total = store.list_executions(
                db,
                status=status,
                search=search,
                offset=offset,
                limit=limit,
                order=order[0],
                descending=order[1],
            )
            return ExecutionPage(rows, total, _runners_of(db, rows))

        return await self._off(read)

    async def execution(self, execution_id: int) -> store.Execution:
        return await self._off(lambda db: store.get_execution(db, execution_id))

    async def execution_view(
        self, execution_id: int, *, start: int, limit: int, tally: bool
    ) -> ExecutionView:
        def read(db: store.Store) -> ExecutionView:
            e = store.get_execution(db, execution_id)
            window = store.step_window(db, execution_id, start=start, limit=limit, tally=tally)
            kids = {c.parent_step or "": c for c in store.children(db, execution_id)}
            return ExecutionView(e, window, kids)

        return await self._off(read)

    async def timeline(self, execution_id: int) -> TimelineView:
        def read(db: store.Store) -> TimelineView:
            return TimelineView(
                store.get_execution(db, execution_id),
                store.step_runs(db, execution_id, items=False),  # a foreach step: one bar
            )

        return await self._off(read)

    async def graph(self, execution_id: int) -> GraphData:
        """What an execution's graph shows, in one read: the definition it ran (None: the
        workflow changed since, and only its newest version is kept), each step's needs
        and status."""
        from engine import definition

        def read(db: store.Store) -> GraphData:
            e = store.get_execution(db, execution_id)
            row = store.get_workflow(db, e.workflow_name)
            workflow = definition.parsed(row) if row.version == e.version else None
            return GraphData(e, row, workflow, store.step_statuses(db, execution_id))

        return await self._off(read)

    async def step_statuses(self, execution_id: int) -> StatusView:
        def read(db: store.Store) -> StatusView:
            return StatusView(
                store.get_execution(db, execution_id), store.step_statuses(db, execution_id)
            )

        return await self._off(read)

    async def log_tail(
        self, execution_id: int, *, limit: int, before_seq: int | None = None
    ) -> list[store.LogLine]:
        return await self._off(
            lambda db: store.log_tail(db, execution_id, limit=limit, before_seq=before_seq)
        )

    async def log_after(
        self, execution_id: int, *, after_seq: int, limit: int
    ) -> tuple[list[store.LogLine], int]:
        """Lines after ``after_seq``, and the seq of the log's last line."""

        def read(db: store.Store) -> tuple[list[store.LogLine], int]:
            lines = store.log_lines(db, execution_id, after_seq=after_seq, limit=limit)
            last = store.last_log_seq(db, execution_id) if len(lines) == limit else 0
            return lines, last

        return await self._off(read)

    async def save_log(self, execution_id: int, path: Path, *, step_id: str | None) -> int:
        """Write the log (or one step's) to ``path`` as `wfe logs` prints it; lines written.

        Page by page, so a million-line log costs a page of memory; into a file beside
        the target that replaces it only once whole (a failed save leaves what was there).
        """

        def write(db: store.Store) -> int:
            from engine.cli.output import log_text

            part = path.with_name(f".{path.name}.part")
            count, after = 0, 0
            try:
                with part.open("w", encoding="utf-8") as out:
                    while True:
                        page = store.log_lines(
                            db, execution_id, step_id=step_id, after_seq=after, limit=2000
                        )
                        out.writelines(log_text(line) + "\n" for line in page)
                        count += len(page)
                        if len(page) < 2000:
                            break
                        after = page[-1].seq
                part.replace(path)
            except OSError as exc:
                part.unlink(missing_ok=True)
                raise SaveFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
            return count

        return await self._off(write)

    async def health(self) -> HealthView:
        def read(db: store.Store) -> HealthView:
            probe = self._health or store.health
            return HealthView(probe(db), store.live_runners(db), store.SCHEMA_VERSION)

        return await self._off(read)

    async def live_workers(self) -> list[store.Runner]:
        return await self._off(lambda db: store.live_runners(db))

    async def get_workflow(self, name: str) -> store.Workflow:
        return await self._off(lambda db: store.get_workflow(db, name))

    async def parsed(self, row: store.Workflow) -> definition.Workflow:
        from engine import definition

        return await self._off(lambda db: definition.parsed(row))

    def schedule_text(self, row: store.Workflow) -> str:
        """A schedule and its next tick in its own zone (off the UI thread: it parses)."""
        if not row.schedule:
            return "-"
        from zoneinfo import ZoneInfo

        from engine import definition
        from engine.runtime import scheduler

        try:
            schedule = definition.parsed(row).schedule
        except Exception:  # an unparseable stored definition still lists
            return row.schedule
        if schedule is None:
            return "-"
        upcoming = scheduler.next_tick(schedule, self._clock()).astimezone(
            ZoneInfo(schedule.timezone)
        )
        return f"{schedule.cron}  next {upcoming:%a %H:%M %Z}"

    # -- writes ----------------------------------------------------------------------

    async def toggle_active(self, name: str) -> store.Workflow:
        def write(db: store.Store) -> store.Workflow:
            row = store.get_workflow(db, name)
            return store.set_active(db, name, not row.active)

        return await self._off(write)

    async def set_active(self, names: list[str], active: bool) -> None:
        def write(db: store.Store) -> None:
            for name in names:
                store.set_active(db, name, active)

        return await self._off(write)

    async def remove_workflows(self, names: list[str]) -> int:
        """Remove these workflows and their executions; how many executions went."""
        return await self._off(lambda db: sum(store.remove_workflow(db, n) for n in names))

    async def remove_workflow(self, name: str) -> int:
        return await self._off(lambda db: store.remove_workflow(db, name))

    async def import_examples(self) -> list[str]:
        """Add the bundled examples; the names of those that were new or changed."""

        def write(db: store.Store) -> list[str]:
            from engine import definition

            items: list[tuple[definition.Workflow, str | None]] = []
            folder = resources.files("examples")
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if entry.name.endswith((".yaml", ".yml")):
                    items.append((definition.parse(entry.read_text(), entry.name), None))
            saved = store.save_workflows(db, items)
            return [s.workflow.name for s in saved if s.change != "unchanged"]

        return await self._off(write)

    async def queue(
        self, row: store.Workflow, params: dict[str, Any], trigger: str
    ) -> store.Execution:
        return await self._off(lambda db: store.create_execution(db, row, params, trigger))

    async def mark_step(
        self, execution_id: int, step_id: str, status: str, reason: str, by: str
    ) -> store.StepMark:
        return await self._off(
            lambda db: store.mark_step(db, execution_id, step_id, status, reason, by)
        )

    async def rerun_only(self, execution_id: int, step_id: str) -> store.Execution:
        from engine.runtime import reruns

        return await self._off(lambda db: reruns.rerun(db, execution_id, only=step_id))

    async def request_cancel(self, execution_id: int) -> str:
        return await self._off(lambda db: store.request_cancel(db, execution_id))

    async def decide(
        self, execution_id: int, step_id: str, *, approve: bool, reason: str | None, by: str
    ) -> store.Approval:
        return await self._off(
            lambda db: store.decide(
                db, execution_id, step_id, approve=approve, reason=reason, by=by
            )
        )


class Services:
    """Everything a screen may use, handed down from the App."""

    def __init__(
        self,
        *,
        config: Config,
        clock: Clock,
        memory: Callable[[], int],
        health: Callable[[store.Store], store.Health] | None = None,
        busy: Callable[[], bool] = lambda: False,
        read_only: bool = False,
        context: str = "default",
    ) -> None:
        self.queries = Queries(clock, health)
        self.read_only = read_only  # every action that writes is refused
        # The store's name (engine.contexts), shown first in every view's title.
        self.context = context + (" · read-only" if read_only else "")
        self.host: EngineHost | None = None  # the embedded executor, once the store is open
        self.config = config
        self.clock = clock
        self.memory = memory
        self.busy = busy  # a key came in just now: periodic work waits its turn

    def attach(self, db: store.Store, host: EngineHost | None) -> None:
        """The store is open (and the engine, if this console runs one, is hosted)."""
        self.host = host
        self.queries.attach(db)

    def save_config(self) -> None:
        """Keep what the user chose (a theme, a list's order) in config.toml."""
        from console import config

        config.save(self.config)

    def executor_statistics(self) -> ExecutorStatistics | None:
        """The embedded executor's statistics, or None when it is not running."""
        return self.host.statistics() if self.host is not None else None
