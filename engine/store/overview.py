"""The dashboard's numbers in one query, and the store's health."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from engine.status import FAILURES, FINISHED, ExecutionStatus
from engine.store import schema
from engine.store.connection import Store, reason, translate_errors
from engine.store.dialects import safe_url
from engine.store.tables import ACTIVITY, EXECUTION, WORKFLOW, utcnow


@dataclass(frozen=True, slots=True)
class Stats:
    workflows: int
    active_workflows: int
    running: int
    queued: int
    succeeded: int
    failed: int  # failed or timed out
    cancelled: int
    finished: int
    average_duration_ms: float | None
    since: datetime | None

    @property
    def success_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return self.succeeded / done if done else None

    def as_json(self) -> dict[str, Any]:
        return {
            "workflows": self.workflows,
            "active_workflows": self.active_workflows,
            "running": self.running,
            "queued": self.queued,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "success_rate": self.success_rate,
            "average_duration_ms": self.average_duration_ms,
            "since": self.since.isoformat() if self.since else None,
        }


def activity(store: Store, *, seconds: int = 60, now: datetime | None = None) -> list[int]:
    """Steps finished in each of the last ``seconds`` seconds by every runner, oldest first
    (the second under way last)."""
    end = int((now or utcnow()).timestamp())
    start = end - seconds + 1
    a = ACTIVITY.c
    with translate_errors(store), store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.second, sa.func.sum(a.steps))
            .where(a.second >= start, a.second <= end)
            .group_by(a.second)
        ).all()
    counts = {int(second): int(steps) for second, steps in rows}
    return [counts.get(second, 0) for second in range(start, end + 1)]


def stats(store: Store, *, since: datetime | None = None) -> Stats:
    """Every dashboard number in one query, as the seed does.

    Running and queued counts are current; the finished tallies cover ``since`` onwards
    (everything when ``None``).
    """
    e, w = EXECUTION.c, WORKFLOW.c

    def count_of(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    finished = sa.select(
        sa.func.count().label("finished"),
        count_of(e.status == ExecutionStatus.SUCCEEDED).label("ok"),
        count_of(e.status.in_(FAILURES)).label("failed"),
        count_of(e.status == ExecutionStatus.CANCELLED).label("cancelled"),
        sa.func.avg(e.duration_ms).label("avg"),
    ).where(e.status.in_(FINISHED))
    if since is not None:
        finished = finished.where(e.started_at >= since)
    sub = finished.subquery()
    query = sa.select(
        sa.select(sa.func.count()).select_from(WORKFLOW).scalar_subquery(),
        sa.select(sa.func.count()).where(w.is_active).scalar_subquery(),
        sa.select(sa.func.count()).where(e.status == ExecutionStatus.RUNNING).scalar_subquery(),
        sa.select(sa.func.count()).where(e.status == ExecutionStatus.QUEUED).scalar_subquery(),
        sub.c.ok,
        sub.c.failed,
        sub.c.cancelled,
        sub.c.finished,
        sub.c.avg,
    )
    with translate_errors(store), store.engine.connect() as conn:
        row = conn.execute(query).one()
    return Stats(
        workflows=row[0],
        active_workflows=row[1],
        running=row[2],
        queued=row[3],
        succeeded=int(row[4]),
        failed=int(row[5]),
        cancelled=int(row[6]),
        finished=int(row[7]),
        average_duration_ms=float(row[8]) if row[8] is not None else None,
        since=since,
    )


def drained(store: Store) -> datetime | None:
    """When the last execution ended, once none is queued or running (else None).

    Cheap at any size (two index lookups), for whoever waits for a queue to empty and
    times it (the bench): counting the finished would cost more than the work timed.
    """
    e = EXECUTION.c
    with translate_errors(store), store.engine.connect() as conn:
        busy = conn.execute(
            sa.select(e.id)
            .where(e.status.in_((ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)))
            .limit(1)
        ).first()
        if busy is not None:
            return None
        last: datetime | None = conn.execute(sa.select(sa.func.max(e.finished_at))).scalar()
        return last


def since_hours(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)


@dataclass(frozen=True, slots=True)
class Health:
    url: str
    reachable: bool
    schema_version: int | None
    size_bytes: int | None
    free_disk_bytes: int | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "reachable": self.reachable,
            "schema_version": self.schema_version,
            "size_bytes": self.size_bytes,
            "free_disk_bytes": self.free_disk_bytes,
            "error": self.error,
        }


REPLACED = "the store file was moved, deleted or replaced since it was opened: restart wfe"


def health(store: Store) -> Health:
    """Can the store be read; its schema, its size and the disk free beside it.

    A SQLite file moved or replaced under an open store still answers, from the file
    that was opened (no longer the store): that is said, not ``reachable``.
    """
    url = safe_url(store.url)
    if store.replaced():
        return Health(url, False, None, None, None, REPLACED)
    try:
        with store.engine.connect() as conn:
            version = schema.version_of(conn)
            size = store.dialect.database_size(conn)
    except sa_exc.DBAPIError as exc:
        return Health(url, False, None, None, None, reason(exc))
    free = None
    if store.path is not None:
        free = shutil.disk_usage(store.path.parent).free
    return Health(url, True, version, size, free)
