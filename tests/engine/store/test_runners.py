"""Heartbeats, claims, take-over and leases."""

from __future__ import annotations

from datetime import timedelta

from engine import definition, store
from engine.store import tables

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


def queued(db: store.Store, step: str) -> store.Execution:
    """One queued execution of a new one-step workflow ``w``."""
    store.save_workflows(db, [(definition.parse(f"name: w\nsteps:\n  - {step}\n"), None)])
    (execution,) = store.create_executions(db, store.get_workflow(db, "w"), [{}])
    return execution


def test_a_short_lease_never_takes_work_from_a_runner_with_a_longer_one(db: store.Store) -> None:
    execution = queued(db, "{id: a, log: x}")
    slow = store.Runner.new("slow", host="h", pid=1, concurrency=1)
    store.heartbeat(db, slow, lease=60)
    assert store.claim(db, "slow", 1) == [execution.id]
    with db.writer.begin() as conn:  # its last beat was 10 s ago: well within its lease
        conn.execute(
            tables.RUNNER.update()
            .where(tables.RUNNER.c.id == "slow")
            .values(heartbeat_at=store.utcnow() - timedelta(seconds=10))
        )
    assert store.take_over(db, "quick", limit=10) == {}
    assert [w.id for w in store.live_runners(db)] == ["slow"]
    with db.writer.begin() as conn:  # now its lease has run out
        conn.execute(
            tables.RUNNER.update()
            .where(tables.RUNNER.c.id == "slow")
            .values(expires_at=store.utcnow() - timedelta(seconds=1))
        )
    assert store.take_over(db, "quick", limit=10) == {execution.id: "slow"}
    assert store.live_runners(db) == []


def test_one_leader_at_a_time(db: store.Store) -> None:
    assert store.acquire_lease(db, "scheduler", "a", ttl=10)
    assert not store.acquire_lease(db, "scheduler", "b", ttl=10)
    assert store.acquire_lease(db, "scheduler", "a", ttl=10)  # renewal
    assert store.acquire_lease(db, "scheduler", "b", ttl=-1) is False
    with db.writer.begin() as conn:
        conn.exec_driver_sql("UPDATE lease SET expires_at = '2000-01-01 00:00:00.000000'")
    assert store.acquire_lease(db, "scheduler", "b", ttl=10)  # a's lease ran out
