"""The charts' numbers: finished per bucket by outcome, and queue and running worked back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine import store
from engine.store import tables
from tests.support import add

BACKENDS = ("sqlite", "postgresql")
NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)  # 30 s into the minute under way


def _set(db: store.Store, execution_id: int, **values: object) -> None:
    with db.writer.begin() as conn:
        conn.execute(
            tables.EXECUTION.update().where(tables.EXECUTION.c.id == execution_id).values(values)
        )


def _ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_each_bucket_counts_what_finished_and_what_was_queued_and_running(
    db: store.Store,
) -> None:
    add(db, "name: w\nsteps: [{id: a, log: x}]\n")
    a, b, c, d, old = (
        e.id or 0 for e in store.create_executions(db, store.get_workflow(db, "w"), [{}] * 5)
    )
    for e in (a, b, c, d):
        _set(db, e, queued_at=_ago(30))
    # a ran 20 → 10 minutes ago and succeeded; b started 5 minutes ago and still runs;
    # c was cancelled while queued 15 minutes ago; d is queued still. old: a day ago.
    _set(db, a, status="succeeded", started_at=_ago(20), finished_at=_ago(10), duration_ms=6e5)
    _set(db, b, status="running", started_at=_ago(5))
    _set(db, c, status="cancelled", finished_at=_ago(15))
    _set(
        db,
        old,
        status="failed",
        queued_at=_ago(1400),
        started_at=_ago(1400),
        finished_at=_ago(1399),
    )
    charts = store.charts(db, hours=1, now=NOW)
    assert charts.bucket == 60 and len(charts.queued) == 60
    assert charts.start == datetime(2026, 12, 1, 11, 1, tzinfo=UTC)

    def at(minutes_ago: int) -> int:
        return 59 - minutes_ago  # the bucket that many whole minutes before the current one

    assert charts.succeeded[at(10)] == 1 and sum(charts.succeeded) == 1
    assert charts.cancelled[at(15)] == 1 and sum(charts.failed) == 0  # the old one is out
    assert (charts.queued[-1], charts.running[-1]) == (1, 1)  # now: d queued, b running
    assert (charts.queued[at(31)], charts.running[at(31)]) == (0, 0)  # before any was queued
    assert (charts.queued[at(25)], charts.running[at(25)]) == (4, 0)
    assert (charts.queued[at(18)], charts.running[at(18)]) == (3, 1)  # a runs
    assert (charts.queued[at(12)], charts.running[at(12)]) == (2, 1)  # c cancelled
    assert (charts.queued[at(8)], charts.running[at(8)]) == (2, 0)  # a done, b not yet
    day = store.charts(db, hours=24, now=NOW)
    assert len(day.failed) == 72 and sum(day.failed) == 1 and sum(day.succeeded) == 1


def test_steps_per_second_are_every_runner_s_mean_over_the_bucket(db: store.Store) -> None:
    second = int((NOW - timedelta(minutes=2)).timestamp()) // 60 * 60
    with db.writer.begin() as conn:
        conn.execute(
            sa.insert(tables.ACTIVITY),
            [
                {"second": second + 1, "runner": "r1", "steps": 600},
                {"second": second + 2, "runner": "r2", "steps": 600},
            ],
        )
    charts = store.charts(db, hours=1, now=NOW)
    assert charts.steps_per_second[-3] == pytest.approx(20.0)  # 1,200 steps in 60 s
    assert sum(charts.steps_per_second) == pytest.approx(20.0)


def test_last_runs_are_each_workflow_s_newest_oldest_first(db: store.Store) -> None:
    add(db, "name: w\nsteps: [{id: a, log: x}]\n")
    add(db, "name: v\nsteps: [{id: a, log: x}]\n")
    w, v = store.get_workflow(db, "w"), store.get_workflow(db, "v")
    made = store.create_executions(db, w, [{}] * 30)
    for i, e in enumerate(made):
        _set(db, e.id or 0, status="failed" if i % 3 == 0 else "succeeded", duration_ms=float(i))
    runs = store.last_runs(db, [w.id or 0, v.id or 0], runs=20)
    assert list(runs) == [w.id]  # v never ran
    assert runs[w.id or 0].durations == [float(i) for i in range(10, 30)]
    assert runs[w.id or 0].statuses[:3] == ["succeeded", "succeeded", "failed"]  # 10, 11, 12


def test_ended_buckets_are_kept_and_only_the_newest_read_again(db: store.Store) -> None:
    from engine.store import trends

    add(db, "name: w\nsteps: [{id: a, log: x}]\n")
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 40)
    for n, e in enumerate(made):  # one finished every 40 minutes of the day, one now
        at = NOW - timedelta(minutes=40 * n)
        _set(db, e.id or 0, status="succeeded", queued_at=at, started_at=at, finished_at=at)
    trends.forget_settled()
    cold = store.charts(db, hours=24, now=NOW)
    inside = sum(1 for n in range(40) if NOW - timedelta(minutes=40 * n) >= cold.start)
    assert inside == 36 and sum(cold.succeeded) == inside  # the rest is older
    kept = trends._kept[(db.url, 1200)][1]
    # All but the newest four: the one under way (from 12:00) and the three that ended
    # less than two buckets and a minute ago (from 11:00, 11:20 and 11:40).
    assert len(kept) == 68
    # A kept bucket is not read again: changed behind the cache's back, it stays as it was
    # (nothing but wfe prune changes the past, and prune forgets what was kept) ...
    _set(db, made[10].id or 0, status="failed")
    assert store.charts(db, hours=24, now=NOW) == cold
    # ... while the newest buckets are read each time.
    (late,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
    _set(db, late.id or 0, status="succeeded", started_at=NOW, finished_at=NOW)
    warm = store.charts(db, hours=24, now=NOW)
    assert warm.succeeded[-1] == cold.succeeded[-1] + 1
    # prune forgets: the whole window is read again.
    # (what ended over 20 hours before NOW: prune counts from the clock, NOW is fixed)
    past = (store.utcnow() - (NOW - timedelta(hours=20))).total_seconds()
    assert store.prune(db, older_than=past) > 0
    fresh = store.charts(db, hours=24, now=NOW)
    trends.forget_settled()
    assert fresh == store.charts(db, hours=24, now=NOW)
    assert sum(fresh.failed) == 1  # the change is seen after the prune
