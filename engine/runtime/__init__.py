"""The runtime: what runs executions.

executor.py    the executor: an execution's life, the graph of its steps, its limits
admission.py   from a workflow's name (or a queued row) to a run: params, secrets
step_loop.py   one step: its condition, attempts, timeout and retries
takeover.py    resuming what a dead runner left (and ending its orphaned shells)
stops.py       stopping from outside: cancel requests, a lease lost, records refused
recorder.py    group commit of every change, and the events listeners hear
run.py         one execution in flight, and the handle callers wait on
events.py      the events and the executor's statistics
session.py     one runner's identity, heartbeat, lease, claims and adoption
worker.py      ``wfe worker``
scheduler.py   cron schedules, fired by one leader at a time
reruns.py      re-running an execution from one of its steps
"""

from engine.runtime.events import Event, ExecutorStatistics, Listener
from engine.runtime.executor import Executor, open_executor
from engine.runtime.run import ExecutionHandle
from engine.runtime.session import RunnerSession

__all__ = [
    "Event",
    "ExecutionHandle",
    "Executor",
    "ExecutorStatistics",
    "Listener",
    "RunnerSession",
    "open_executor",
]
