"""The console's charts: the whole store over the last hour (or day), a few rows each.

Per bucket (a minute of the last hour, or 20 minutes of the last day): executions that
finished, by outcome; steps finished per second (from ``activity``, every runner's);
and how many executions were queued and running at the bucket's end. The last two are
not sampled: they are worked back from the counts now and the events since (an
execution queued after a moment was not queued at it; one started after it was still
queued), so every runner's work is in them, exactly, with nothing recorded on the side.

Each is one grouped query over an index (schema 5): its cost grows with the events of
the window, not with the store (``wfe bench``'s dashboard scenario times them at
1,000,000 executions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from engine.status import FAILURES, ExecutionStatus
from engine.store.connection import Store, translate_errors
from engine.store.tables import ACTIVITY, EXECUTION, utcnow

WINDOWS = {1: 60, 24: 1200}  # hours shown: seconds a bucket


@dataclass(frozen=True, slots=True)
class Charts:
    start: datetime  # the first bucket's start (UTC)
    bucket: int  # seconds a bucket
    succeeded: list[int]  # finished in each bucket
    failed: list[int]  # failed or timed out
    cancelled: list[int]
    steps_per_second: list[float]  # the bucket's mean
    queued: list[int]  # at each bucket's end (the last: now)
    running: list[int]


@dataclass(frozen=True, slots=True)
class LastRuns:
    """A workflow's last runs, oldest first: each one's status and duration (ms)."""

    statuses: list[str]
    durations: list[float | None]


def charts(store: Store, *, hours: int = 1, now: datetime | None = None) -> Charts:
    """The charts of the last ``hours`` (1 or 24), ending with the bucket under way."""
    if hours not in WINDOWS:
        raise ValueError(f"hours: 1 or 24, not {hours}")
    size = WINDOWS[hours]
    n = hours * 3600 // size
    now = now or utcnow()
    end = int(now.timestamp()) // size * size + size
    first = end - n * size
    since = datetime.fromtimestamp(first, UTC)
    e, a = EXECUTION.c, ACTIVITY.c
    epoch = store.dialect.epoch

    def bucket(column: Any) -> Any:
        return ((epoch(column) - first) // size).label("bucket")

    finished = (
        sa.select(bucket(e.finished_at), e.status, e.started_at.is_(None), sa.func.count())
        .where(e.finished_at >= since)
        .group_by(sa.text("1"), e.status, e.started_at.is_(None))
    )
    queued = sa.select(bucket(e.queued_at), sa.func.count()).where(e.queued_at >= since)
    started = sa.select(bucket(e.started_at), sa.func.count()).where(e.started_at >= since)
    steps = (
        sa.select(((a.second - first) // size).label("bucket"), sa.func.sum(a.steps))
        .where(a.second >= first)
        .group_by(sa.text("1"))
    )
    now_counts = sa.select(
        sa.select(sa.func.count()).where(e.status == ExecutionStatus.QUEUED).scalar_subquery(),
        sa.select(sa.func.count()).where(e.status == ExecutionStatus.RUNNING).scalar_subquery(),
    )
    ok, bad, off = [0] * n, [0] * n, [0] * n
    stepped = [0.0] * n
    q_in, s_in, f_in, c_in = [0] * n, [0] * n, [0] * n, [0] * n
    with translate_errors(store), store.engine.connect() as conn:
        for i, status, never_started, count in conn.execute(finished):
            if not 0 <= i < n:
                continue
            if status == ExecutionStatus.SUCCEEDED:
                ok[i] += count
            elif status in FAILURES:
                bad[i] += count
            else:
                off[i] += count
            (c_in if never_started else f_in)[i] += count
        for into, query in ((q_in, queued), (s_in, started)):
            for i, count in conn.execute(query.group_by(sa.text("1"))):
                if 0 <= i < n:
                    into[i] += count
        for i, total in conn.execute(steps):
            if 0 <= i < n:
                stepped[i] = int(total) / size
        queued_now, running_now = conn.execute(now_counts).one()
    queue, run = [0] * n, [0] * n
    q, r = int(queued_now), int(running_now)
    for i in range(n - 1, -1, -1):  # each bucket's end, from now back
        queue[i], run[i] = max(q, 0), max(r, 0)
        q += -q_in[i] + s_in[i] + c_in[i]
        r += -s_in[i] + f_in[i]
    return Charts(since, size, ok, bad, off, stepped, queue, run)


def last_runs(store: Store, workflow_ids: Sequence[int], *, runs: int = 20) -> dict[int, LastRuns]:
    """Each workflow's last ``runs`` executions (finished or not), one small index read
    each (``ix_execution_workflow_runs``), all in one statement."""
    if not workflow_ids:
        return {}
    e = EXECUTION.c
    parts = [
        sa.select(e.workflow_id, e.id, e.status, e.duration_ms)
        .where(e.workflow_id == wid)
        .order_by(e.id.desc())
        .limit(runs)
        .subquery()
        for wid in dict.fromkeys(workflow_ids)
    ]
    query = sa.union_all(*(sa.select(p) for p in parts))
    found: dict[int, list[tuple[int, str, float | None]]] = {}
    with translate_errors(store), store.engine.connect() as conn:
        for wid, eid, status, duration in conn.execute(query):
            found.setdefault(wid, []).append((eid, status, duration))
    out = {}
    for wid, rows in found.items():
        rows.sort()
        out[wid] = LastRuns([s for _i, s, _d in rows], [d for _i, _s, d in rows])
    return out
