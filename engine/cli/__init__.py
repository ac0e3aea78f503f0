"""The ``wfe`` command (click), one module per group of commands.

    base.py         errors to one line and an exit status; opening the store
    output.py       tables, JSON, times and statuses
    workflows.py    validate, workflow add|list|show|enable|disable|remove
    running.py      run, rerun, cancel, worker
    executions.py   executions list|show, logs
    approvals.py    approvals, approve, reject
    reports.py      stats, health
    maintenance.py  prune, bench

Command modules import only click at the top; SQLAlchemy, trio, httpx and the rest are
imported inside the commands that use them, so ``wfe --help`` starts in a blink.
"""

from engine.cli.main import main

__all__ = ["main"]
