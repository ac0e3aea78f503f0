"""The dashboard at scale: a million executions filled past the engine, its queries timed."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from engine import definition, store
from engine.bench.results import Result

_EXEC_COLUMNS = (
    "id", "workflow_id", "workflow_name", "version", "params", "status", "trigger",
    "cancel_requested", "queued_at", "started_at", "finished_at", "duration_ms", "error",
)  # fmt: skip
_STEP_COLUMNS = (
    "execution_id", "step_id", "position", "attempt", "status", "started_at", "finished_at",
    "duration_ms", "exit_code", "output", "error",
)  # fmt: skip
_Chunk = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
_TALLIES = (
    "UPDATE workflow SET last_execution_id = (SELECT max(id) {of}),"
    " runs = (SELECT count(*) {of} AND e.status != 'cancelled'),"
    " succeeded = (SELECT count(*) {of} AND e.status = 'succeeded')"
).format(of="FROM execution e WHERE e.workflow_id = workflow.id")


def bulk_fill(db: store.Store, executions: int, steps_per: int, workflows: int = 100) -> None:
    """Fill the store fast, past the engine: spread over 30 days, in chunks."""
    import sqlalchemy as sa

    for w in range(workflows):
        text = f"name: dash-{w}\nsteps: [{{id: a, log: x}}]\n"
        store.save_workflows(db, [(definition.parse(text, "bench"), None)])
    rows, _total = store.list_workflows(db, search="dash-", limit=workflows)
    targets = [(r.workflow.id, r.workflow.name) for r in rows]
    for executions_rows, step_rows in _bulk_rows(executions, steps_per, targets):
        db.dialect.bulk_insert(db.engine, "execution", _EXEC_COLUMNS, executions_rows)
        db.dialect.bulk_insert(db.engine, "step_run", _STEP_COLUMNS, step_rows)
    with db.engine.begin() as conn:
        conn.execute(sa.text(_TALLIES))
    db.dialect.after_bulk_insert(db.engine, ["execution", "step_run"])


def _bulk_rows(
    executions: int, steps_per: int, workflows: list[tuple[int, str]], base: int = 10_000_000
) -> Iterator[_Chunk]:
    """Execution and step-run rows, 50,000 executions at a time (ids from ``base`` on)."""
    now = time.time()
    rng = random.Random(7)
    statuses = ["succeeded"] * 90 + ["failed"] * 8 + ["cancelled"] * 2
    chunk = 50_000
    for start in range(0, executions, chunk):
        rows: list[tuple[Any, ...]] = []
        srows: list[tuple[Any, ...]] = []
        for i in range(start, min(start + chunk, executions)):
            eid = base + i + 1
            t = now - (executions - i) * (30 * 86400 / executions)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(t))
            dur = rng.uniform(50, 5000)
            end = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(t + dur / 1000))
            status = rng.choice(statuses)
            wid, name = workflows[i % len(workflows)]
            rows.append(
                (eid, wid, name, 1, "{}", status, "manual", False, stamp, stamp, end, dur, None)
            )
            for s in range(steps_per):
                srows.append(
                    (eid, f"s{s}", s, 1, "succeeded", stamp, end, dur / steps_per, 0, None, None)
                )
        yield rows, srows


def _percentiles(fn: Callable[[], object], n: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def queries(db: store.Store) -> list[Result]:
    """The dashboard's queries (and its charts'), 200 times each: p50 and p99."""

    since = store.since_hours(24)
    ids = [s.workflow.id or 0 for s in store.list_workflows(db, limit=50)[0]]
    out = []
    for name, fn in [
        ("dashboard_stats", lambda: store.stats(db, since=since)),
        ("dashboard_recent", lambda: store.recent_executions(db, limit=20)),
        ("dashboard_workflows", lambda: store.list_workflows(db, limit=50)),
        ("dashboard_charts_1h", lambda: store.charts(db, hours=1)),
        ("dashboard_charts_24h", lambda: store.charts(db, hours=24)),
        # As a console first opens the 24-hour charts (then every five minutes): no
        # ended bucket kept, the whole day read.
        ("dashboard_charts_24h_cold", lambda: store.charts(db, hours=24, kept=False)),
        ("dashboard_last_runs", lambda: store.last_runs(db, ids, runs=10)),
    ]:
        p50, p99 = _percentiles(fn, 200)
        r = Result(name, "ms p50", [p50], None, "p99 ≤ 20 ms", higher_is_better=False)
        r.extra = {"p99_ms": p99}
        out.append(r)
    return out
