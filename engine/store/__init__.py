"""The durable store: every state change of every execution, in SQLite or PostgreSQL.

The rooms, by noun::

    tables.py       the SQLModel tables (the schema's one source of truth)
    records.py      what callers get back: frozen records, with their JSON
    connection.py   open_store, Store, error translation
    schema.py       the schema version: create, check, upgrade (migrations/)
    dialects/       one module per database, behind one small interface
    workflows.py    workflows: add, list, enable, remove
    executions.py   executions: queue, read, list, cancel, re-run, prune
    step_runs.py    each attempt of each step
    logs.py         an execution's log lines
    approvals.py    what approval steps wait for
    schedules.py    scheduled workflows and their ticks
    runners.py      heartbeats, claims, take-over and leases
    writer.py       the executor's batched writes (group commit) and the fence
    stats.py        the dashboard's numbers and the store's health

Every function is synchronous: trio code calls them through ``trio.to_thread.run_sync``
(the executor's recorder does, for the hot path, in batches), the console from Textual
workers. The names below are the store's API; import the package, not its modules.
"""

from engine.store.approvals import decide, get_approval, pending_approvals, request_approval
from engine.store.connection import Store, open_store, translate_errors
from engine.store.executions import (
    cancel_requested,
    create_execution,
    create_executions,
    get_execution,
    list_executions,
    prune,
    recent_executions,
    request_cancel,
    rerun,
)
from engine.store.logs import last_log_seq, log_lines, log_tail
from engine.store.records import (
    Approval,
    Execution,
    LogLine,
    Runner,
    StepRun,
    Workflow,
    WorkflowSummary,
)
from engine.store.runners import (
    DEFAULT_LEASE,
    acquire_lease,
    assign,
    claim,
    heartbeat,
    live_runners,
    take_over,
)
from engine.store.schedules import fire_schedule, scheduled_workflows
from engine.store.schema import VERSION as SCHEMA_VERSION
from engine.store.stats import Health, Stats, health, since_hours, stats
from engine.store.step_runs import StepWindow, step_runs, step_window
from engine.store.tables import utcnow
from engine.store.workflows import (
    Saved,
    get_workflow,
    list_workflows,
    remove_workflow,
    save_workflows,
    set_active,
)
from engine.store.writer import Batch, write_batch

__all__ = [
    "DEFAULT_LEASE",
    "SCHEMA_VERSION",
    "Approval",
    "Batch",
    "Execution",
    "Health",
    "LogLine",
    "Runner",
    "Saved",
    "Stats",
    "StepRun",
    "StepWindow",
    "Store",
    "Workflow",
    "WorkflowSummary",
    "acquire_lease",
    "assign",
    "cancel_requested",
    "claim",
    "create_execution",
    "create_executions",
    "decide",
    "fire_schedule",
    "get_approval",
    "get_execution",
    "get_workflow",
    "health",
    "heartbeat",
    "last_log_seq",
    "list_executions",
    "list_workflows",
    "live_runners",
    "log_lines",
    "log_tail",
    "open_store",
    "pending_approvals",
    "prune",
    "recent_executions",
    "remove_workflow",
    "request_approval",
    "request_cancel",
    "rerun",
    "save_workflows",
    "scheduled_workflows",
    "set_active",
    "since_hours",
    "stats",
    "step_runs",
    "step_window",
    "take_over",
    "translate_errors",
    "utcnow",
    "write_batch",
]
