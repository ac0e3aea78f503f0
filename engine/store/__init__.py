"""The durable store: every state change of every execution, in SQLite or PostgreSQL.

The rooms, by noun::

    tables.py       the SQLModel tables (the schema's one source of truth)
    records.py      what callers get back: frozen records, with their JSON
    connection.py   open_store, Store, error translation
    schema.py       the schema version: create, check, upgrade (migrations/)
    dialects/       one module per database, behind one small interface
    workflows.py    workflows: add, list, enable, remove
    executions.py   executions: queue, read, list, cancel, re-run, prune
    attempts.py     each attempt of each step (step runs)
    logs.py         an execution's log lines
    approvals.py    what approval steps wait for
    marks.py        an operator's marks on steps (settle one succeeded or failed)
    schedules.py    scheduled workflows and their ticks
    runners.py      heartbeats, claims, take-over and leases
    writer.py       the executor's batched writes (group commit) and the fence
    overview.py     the dashboard's numbers (stats) and the store's health
    trends.py       the dashboard's charts (the last hour or day) and each workflow's last runs

Every function is synchronous: trio code calls them through ``trio.to_thread.run_sync``
(the executor's recorder does, for the hot path, in batches), the console from Textual
workers. The names below are the store's API; import the package, not its modules. Each is
imported when first used: ``wfe stats`` loads the statistics, not the claims.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from engine.store.approvals import (
        close_approval,
        decide,
        get_approval,
        pending_approvals,
        request_approval,
    )
    from engine.store.attempts import StepWindow, step_runs, step_statuses, step_window
    from engine.store.connection import Store, open_store, translate_errors
    from engine.store.executions import (
        cancel_requested,
        children,
        create_execution,
        create_executions,
        get_execution,
        get_executions,
        list_executions,
        prune,
        queue_many,
        recent_executions,
        request_cancel,
        rerun,
    )
    from engine.store.logs import last_log_seq, log_lines, log_tail
    from engine.store.marks import StepMark, mark_step, marks_applied, open_marks
    from engine.store.overview import (
        Health,
        Stats,
        activity,
        drained,
        health,
        since_hours,
        stats,
    )
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
        Claim,
        ClaimRequest,
        acquire_lease,
        assign,
        claim,
        claim_started,
        heartbeat,
        held_by,
        live_runners,
        orphans,
        runners_by_id,
        runners_on,
        take_over,
        unclaim,
    )
    from engine.store.schedules import fire_schedule, scheduled_workflows
    from engine.store.schema import VERSION as SCHEMA_VERSION
    from engine.store.tables import utcnow
    from engine.store.trends import Charts, LastRuns, charts, last_runs
    from engine.store.workflows import (
        Saved,
        fold_tallies,
        get_workflow,
        list_workflows,
        remove_workflow,
        save_workflows,
        set_active,
    )
    from engine.store.writer import Batch, write_batch, write_batch_and_claim

_WHERE = {
    "Approval": ("records", "Approval"),
    "Batch": ("writer", "Batch"),
    "Charts": ("trends", "Charts"),
    "LastRuns": ("trends", "LastRuns"),
    "charts": ("trends", "charts"),
    "last_runs": ("trends", "last_runs"),
    "DEFAULT_LEASE": ("runners", "DEFAULT_LEASE"),
    "Execution": ("records", "Execution"),
    "Health": ("overview", "Health"),
    "LogLine": ("records", "LogLine"),
    "Runner": ("records", "Runner"),
    "SCHEMA_VERSION": ("schema", "VERSION"),
    "Saved": ("workflows", "Saved"),
    "Stats": ("overview", "Stats"),
    "StepRun": ("records", "StepRun"),
    "StepMark": ("marks", "StepMark"),
    "mark_step": ("marks", "mark_step"),
    "marks_applied": ("marks", "marks_applied"),
    "open_marks": ("marks", "open_marks"),
    "StepWindow": ("attempts", "StepWindow"),
    "Store": ("connection", "Store"),
    "Workflow": ("records", "Workflow"),
    "WorkflowSummary": ("records", "WorkflowSummary"),
    "acquire_lease": ("runners", "acquire_lease"),
    "assign": ("runners", "assign"),
    "cancel_requested": ("executions", "cancel_requested"),
    "claim": ("runners", "claim"),
    "claim_started": ("runners", "claim_started"),
    "Claim": ("runners", "Claim"),
    "ClaimRequest": ("runners", "ClaimRequest"),
    "unclaim": ("runners", "unclaim"),
    "write_batch_and_claim": ("writer", "write_batch_and_claim"),
    "children": ("executions", "children"),
    "create_execution": ("executions", "create_execution"),
    "create_executions": ("executions", "create_executions"),
    "close_approval": ("approvals", "close_approval"),
    "activity": ("overview", "activity"),
    "drained": ("overview", "drained"),
    "decide": ("approvals", "decide"),
    "fire_schedule": ("schedules", "fire_schedule"),
    "fold_tallies": ("workflows", "fold_tallies"),
    "get_approval": ("approvals", "get_approval"),
    "get_execution": ("executions", "get_execution"),
    "get_executions": ("executions", "get_executions"),
    "get_workflow": ("workflows", "get_workflow"),
    "health": ("overview", "health"),
    "heartbeat": ("runners", "heartbeat"),
    "last_log_seq": ("logs", "last_log_seq"),
    "list_executions": ("executions", "list_executions"),
    "list_workflows": ("workflows", "list_workflows"),
    "live_runners": ("runners", "live_runners"),
    "held_by": ("runners", "held_by"),
    "runners_by_id": ("runners", "runners_by_id"),
    "runners_on": ("runners", "runners_on"),
    "log_lines": ("logs", "log_lines"),
    "log_tail": ("logs", "log_tail"),
    "open_store": ("connection", "open_store"),
    "pending_approvals": ("approvals", "pending_approvals"),
    "prune": ("executions", "prune"),
    "queue_many": ("executions", "queue_many"),
    "recent_executions": ("executions", "recent_executions"),
    "remove_workflow": ("workflows", "remove_workflow"),
    "request_approval": ("approvals", "request_approval"),
    "request_cancel": ("executions", "request_cancel"),
    "rerun": ("executions", "rerun"),
    "save_workflows": ("workflows", "save_workflows"),
    "scheduled_workflows": ("schedules", "scheduled_workflows"),
    "set_active": ("workflows", "set_active"),
    "since_hours": ("overview", "since_hours"),
    "stats": ("overview", "stats"),
    "step_runs": ("attempts", "step_runs"),
    "step_statuses": ("attempts", "step_statuses"),
    "step_window": ("attempts", "step_window"),
    "orphans": ("runners", "orphans"),
    "take_over": ("runners", "take_over"),
    "translate_errors": ("connection", "translate_errors"),
    "utcnow": ("tables", "utcnow"),
    "write_batch": ("writer", "write_batch"),
}

__all__ = [
    "DEFAULT_LEASE",
    "SCHEMA_VERSION",
    "Approval",
    "Batch",
    "Charts",
    "Claim",
    "ClaimRequest",
    "Execution",
    "Health",
    "LastRuns",
    "LogLine",
    "Runner",
    "Saved",
    "Stats",
    "StepMark",
    "StepRun",
    "StepWindow",
    "Store",
    "Workflow",
    "WorkflowSummary",
    "acquire_lease",
    "activity",
    "assign",
    "cancel_requested",
    "charts",
    "children",
    "claim",
    "claim_started",
    "close_approval",
    "create_execution",
    "create_executions",
    "decide",
    "drained",
    "fire_schedule",
    "fold_tallies",
    "get_approval",
    "get_execution",
    "get_executions",
    "get_workflow",
    "health",
    "heartbeat",
    "held_by",
    "last_log_seq",
    "last_runs",
    "list_executions",
    "list_workflows",
    "live_runners",
    "log_lines",
    "log_tail",
    "mark_step",
    "marks_applied",
    "open_marks",
    "open_store",
    "orphans",
    "pending_approvals",
    "prune",
    "queue_many",
    "recent_executions",
    "remove_workflow",
    "request_approval",
    "request_cancel",
    "rerun",
    "runners_by_id",
    "runners_on",
    "save_workflows",
    "scheduled_workflows",
    "set_active",
    "since_hours",
    "stats",
    "step_runs",
    "step_statuses",
    "step_window",
    "take_over",
    "translate_errors",
    "unclaim",
    "utcnow",
    "write_batch",
    "write_batch_and_claim",
]


def __getattr__(name: str) -> object:
    found = _WHERE.get(name)
    if found is None:
        raise AttributeError(f"module 'engine.store' has no attribute {name!r}")
    module, attribute = found
    value = getattr(_importlib.import_module(f"engine.store.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
