"""Schedules: the workflows that have one, and firing their ticks exactly once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.status import ExecutionStatus
from engine.store import wakeups
from engine.store.connection import Store, translate_errors
from engine.store.executions import number_after_deleted
from engine.store.records import Execution, Workflow
from engine.store.tables import EXECUTION, WORKFLOW, WORKFLOW_READ, utcnow

w = WORKFLOW.c


def scheduled_workflows(store: Store) -> list[Workflow]:
    """Active workflows with a schedule."""
    with translate_errors(store), store.engine.connect() as conn:
        return [
            Workflow.of(r)
            for r in conn.execute(
                sa.select(*WORKFLOW_READ).where(w.schedule.is_not(None), w.is_active)
            ).mappings()
        ]


def fire_schedule(
    store: Store,
    workflow: Workflow,
    ticks: Sequence[datetime],
    considered: datetime,
    params: Mapping[str, Any],
) -> list[Execution]:
    """Queue one execution per tick and move the workflow's schedule mark, together.

    Nothing happens if the mark moved since ``workflow`` was read: someone else fired
    these ticks.
    """
    with translate_errors(store), store.writer.begin() as conn:
        current = (
            conn.execute(sa.select(*WORKFLOW_READ).where(w.id == workflow.id)).mappings().first()
        )
        if current is None or current["last_scheduled_at"] != workflow.last_scheduled_at:
            return []
        made: list[Execution] = []
        now = utcnow()
        if ticks:
            new: list[dict[str, Any]] = [
                {
                    "workflow_id": workflow.id,
                    "workflow_name": current["name"],
                    "version": current["version"],
                    "params": dict(params),
                    "status": ExecutionStatus.QUEUED.value,
                    "trigger": f"schedule {tick:%Y-%m-%d %H:%M}",
                    "cancel_requested": False,
                    "queued_at": now,
                }
                for tick in ticks
            ]
            number_after_deleted(store, conn, new)
            rows = conn.execute(
                EXECUTION.insert().returning(*EXECUTION.c, sort_by_parameter_order=True), new
            ).mappings()
            made = [Execution.of(r) for r in rows]
        values: dict[str, Any] = {"last_scheduled_at": considered}
        if made:
            values["last_execution_id"] = max(x.id for x in made)
        conn.execute(WORKFLOW.update().where(w.id == workflow.id).values(values))
        told = bool(made) and wakeups.notify_in(store, conn)
    if made and not told:
        wakeups.notify(store)
    return made
