"""The console's charts: the whole store over the last hour (or day), a few rows each.

Per bucket (a minute of the last hour, or 20 minutes of the last day): executions that
finished, by outcome; steps finished per second (from ``activity``, every runner's);
and how many executions were queued and running at the bucket's end. The last two are
not sampled: they are worked back from the counts now and the events since (an
execution queued after a moment was not queued at it; one started after it was still
queued), so every runner's work is in them, exactly, with nothing recorded on the side.

It is one statement of counts over index ranges (schema 5), bucket by bucket: its cost
grows with the events of the window, not with the store (``wfe bench``'s dashboard
scenario times it at 1,000,000 executions). A bucket that has ended keeps its counts
(an execution queues, starts and finishes once, at the time it does), so the counts of
settled buckets are kept in this process and only the newest few are read again each
time; the whole window is read again every few minutes, for what ``wfe prune`` took.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


def charts(
    store: Store, *, hours: int = 1, now: datetime | None = None, kept: bool = True
) -> Charts:
    """The charts of the last ``hours`` (1 or 24), ending with the bucket under way
    (``kept``: False reads every bucket, none kept from before)."""
    if hours not in WINDOWS:
        raise ValueError(f"hours: 1 or 24, not {hours}")
    size = WINDOWS[hours]
    n = hours * 3600 // size
    now = now or utcnow()
    end = int(now.timestamp()) // size * size + size
    first = end - n * size
    since = datetime.fromtimestamp(first, UTC)
    edges = {f"t{i}": since + timedelta(seconds=i * size) for i in range(n + 1)}
    seconds = {f"s{i}": first + i * size for i in range(n + 1)}
    ok, bad, off = [0] * n, [0] * n, [0] * n
    stepped = [0.0] * n
    q_in, s_in, f_in, c_in = [0] * n, [0] * n, [0] * n, [0] * n
    if not kept:
        _kept.pop((store.url, size), None)
    ended = _settled(store, size)
    settled_before = now.timestamp() - SETTLE_BUCKETS * size - SETTLE_SLACK
    counted: list[tuple[int, tuple[int, ...]]] = []
    # Read from the first bucket not kept (and every later one): usually the last few.
    start = next((i for i in range(n) if first + i * size not in ended), n)
    start = min(start, n - SETTLE_BUCKETS)
    with translate_errors(store), store.engine.connect() as conn:
        k = n - start
        bound: dict[str, Any] = {f"t{j}": edges[f"t{start + j}"] for j in range(k + 1)}
        bound.update({f"s{j}": seconds[f"s{start + j}"] for j in range(k + 1)})
        for row in conn.execute(_query(k), bound):
            counted.append((start + int(row[0]), tuple(int(v) for v in row[1:])))
        queued_now, running_now = conn.execute(_NOW_COUNTS).one()
    for i, read in counted:
        if first + (i + 1) * size <= settled_before:
            ended[first + i * size] = read
    for i in range(start):
        counted.append((i, ended[first + i * size]))
    for i, (total, good, failed, never, queued, started, finished_steps) in counted:
        ok[i], bad[i], off[i] = good, failed, total - good - failed
        f_in[i], c_in[i] = total - never, never
        q_in[i], s_in[i] = queued, started
        stepped[i] = finished_steps / size
    # The bucket under way has lasted only so long: its mean is over that.
    stepped[-1] = stepped[-1] * size / max(1.0, now.timestamp() - (end - size))
    queue, run = [0] * n, [0] * n
    q, r = int(queued_now), int(running_now)
    for i in range(n - 1, -1, -1):  # each bucket's end, from now back
        queue[i], run[i] = max(q, 0), max(r, 0)
        q += -q_in[i] + s_in[i] + c_in[i]
        r += -s_in[i] + f_in[i]
    return Charts(since, size, ok, bad, off, stepped, queue, run)


SETTLE_BUCKETS = 2  # the bucket under way and the one before are always read
SETTLE_SLACK = 60.0  # seconds more: runners' clocks and commits that come late
KEEP_FOR = 300.0  # seconds before a store's kept buckets are read again whole
_kept: dict[tuple[str, int], tuple[float, dict[int, tuple[int, ...]]]] = {}


def _settled(store: Store, size: int) -> dict[int, tuple[int, ...]]:
    """The counts kept of ``store``'s ended buckets of ``size`` seconds, by each one's
    start (epoch seconds); emptied every ``KEEP_FOR`` seconds."""
    key = (store.url, size)
    now = time.monotonic()
    found = _kept.get(key)
    if found is None or now - found[0] > KEEP_FOR:
        found = _kept[key] = (now, {})
    buckets = found[1]
    if len(buckets) > 4 * 3600 * 24 // size:  # a long-lived console: drop what scrolled off
        for start in sorted(buckets)[: len(buckets) // 2]:
            del buckets[start]
    return buckets


def forget_settled() -> None:
    """Read every bucket again next time (after a prune, say, or in tests)."""
    _kept.clear()


@functools.cache
def _query(n: int) -> sa.Select[Any]:
    """The counts of ``n`` buckets, their edges bound as ``t0…tn`` (timestamps) and
    ``s0…sn`` (epoch seconds): built once per size, so SQLAlchemy compiles it once."""
    e, a = EXECUTION.c, ACTIVITY.c
    when = sa.DateTime(timezone=True)
    buckets = sa.union_all(
        *(
            sa.select(
                sa.literal(i, sa.Integer).label("i"),
                sa.bindparam(f"t{i}", type_=when).label("lo"),
                sa.bindparam(f"t{i + 1}", type_=when).label("hi"),
                sa.bindparam(f"s{i}", type_=sa.BigInteger).label("lo_s"),
                sa.bindparam(f"s{i + 1}", type_=sa.BigInteger).label("hi_s"),
            )
            for i in range(n)
        )
    ).cte("b")
    b = buckets.c

    def count(column: Any, *where: Any) -> Any:
        """Rows whose ``column`` falls in the bucket: a count over an index range."""
        return (
            sa.select(sa.func.count())
            .select_from(EXECUTION)
            .where(column >= b.lo, column < b.hi, *where)
            .scalar_subquery()
        )

    done = e.finished_at
    steps = (
        sa.select(sa.func.coalesce(sa.func.sum(a.steps), 0))
        .where(a.second >= b.lo_s, a.second < b.hi_s)
        .scalar_subquery()
    )
    # Correlated counts, bucket by bucket: each one reads a slice of an index, and no
    # row is sorted or grouped (a GROUP BY over the day's rows costs five times more).
    return sa.select(
        b.i,
        count(done),
        count(done, e.status == ExecutionStatus.SUCCEEDED),
        count(done, e.status.in_(FAILURES)),
        count(done, e.started_at.is_(None)),
        count(e.queued_at),
        count(e.started_at),
        steps,
    ).order_by(b.i)


_NOW_COUNTS = sa.select(
    sa.select(sa.func.count())
    .where(EXECUTION.c.status == ExecutionStatus.QUEUED)
    .scalar_subquery(),
    sa.select(sa.func.count())
    .where(EXECUTION.c.status == ExecutionStatus.RUNNING)
    .scalar_subquery(),
)
_LAST_RUNS = (
    sa.select(EXECUTION.c.id, EXECUTION.c.status, EXECUTION.c.duration_ms)
    .where(EXECUTION.c.workflow_id == sa.bindparam("workflow"))
    .order_by(EXECUTION.c.id.desc())
    .limit(sa.bindparam("runs"))
)


def last_runs(store: Store, workflow_ids: Sequence[int], *, runs: int = 20) -> dict[int, LastRuns]:
    """Each workflow's last ``runs`` executions (finished or not): one small index read
    each (``ix_execution_workflow_runs``), one statement compiled once, on one connection."""
    if not workflow_ids:
        return {}
    found: dict[int, list[tuple[int, str, float | None]]] = {}
    with translate_errors(store), store.engine.connect() as conn:
        for wid in dict.fromkeys(workflow_ids):
            got = conn.execute(_LAST_RUNS, {"workflow": wid, "runs": runs}).all()
            if got:
                found[wid] = [(eid, status, duration) for eid, status, duration in got]
    out = {}
    for wid, rows in found.items():
        rows.sort()
        out[wid] = LastRuns([s for _i, s, _d in rows], [d for _i, _s, d in rows])
    return out
