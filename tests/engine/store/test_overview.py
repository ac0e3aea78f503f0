from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import trio

from engine import definition, store
from engine.status import FINISHED
from engine.store import tables
from tests.support import Wfe, add, run

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


WF = """
name: wf
steps:
  - {id: a, log: one}
"""


def test_stats_counts_in_one_query(db: store.Store) -> None:
    add(db, WF)
    wf = store.get_workflow(db, "wf")
    statuses = ["succeeded", "succeeded", "succeeded", "failed", "running", "queued", "cancelled"]
    with db.engine.begin() as conn:
        for i, status in enumerate(statuses):
            conn.execute(
                sa.insert(tables.EXECUTION).values(
                    workflow_id=wf.id,
                    workflow_name="wf",
                    version=1,
                    params={},
                    status=status,
                    trigger="t",
                    cancel_requested=False,
                    queued_at=store.utcnow(),
                    started_at=store.utcnow(),
                    duration_ms=100.0 * (i + 1) if status in FINISHED else None,
                )
            )
    statements: list[str] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    s = store.stats(db)
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 1
    assert (
        s.workflows,
        s.active_workflows,
        s.running,
        s.queued,
        s.succeeded,
        s.failed,
        s.cancelled,
    ) == (1, 1, 1, 1, 3, 1, 1)
    assert s.success_rate == 0.75
    assert s.average_duration_ms == pytest.approx((100 + 200 + 300 + 400 + 700) / 5)


def test_health_reports_size_and_schema(db: store.Store) -> None:
    h = store.health(db)
    assert h.reachable and h.schema_version == store.SCHEMA_VERSION
    assert h.size_bytes and h.size_bytes > 0
    if db.path is not None:
        assert h.free_disk_bytes and h.free_disk_bytes > 0
    else:  # the server's disk: not visible from here, so not guessed
        assert h.free_disk_bytes is None


def test_health_says_a_store_file_moved_or_replaced_since_it_was_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    db = store.open_store(url)
    try:
        (tmp_path / "wfe.db").rename(tmp_path / "moved.db")  # the old file still answers
        message = "the store file was moved, deleted or replaced since it was opened: restart wfe"
        assert store.health(db) == store.Health(url, False, None, None, None, message)
        store.open_store(url).close()  # another file where it was: still not this store
        assert store.health(db).error == message
    finally:
        db.close()


BUSY = """
name: busy
steps:
  - {id: a, log: one}
  - {id: b, log: two, needs: [a]}
  - {id: c, log: three, needs: [b]}
"""


def test_activity_counts_the_steps_of_every_runner(db: store.Store, db_url: str) -> None:
    """Steps finished by another process (a foreground `wfe run`) count as ours do: the
    dashboard's chart is the store's, not the console's."""
    add(db, BUSY)
    before = store.utcnow()
    for _ in range(2):
        done = Wfe(db_url).process("run", "busy")
        assert done.returncode == 0, done.stderr
    trio.run(run, db, "busy")
    seconds = int((store.utcnow() - before).total_seconds()) + 2
    counts = store.activity(db, seconds=seconds)
    assert len(counts) == seconds
    assert sum(counts) == 9  # three runs of three steps, from two processes
    assert store.activity(db, seconds=5, now=before - timedelta(minutes=5)) == [0] * 5


def test_drained_says_when_the_last_execution_ended_once_none_is_left(db: store.Store) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 2)
    assert store.drained(db) is None  # queued
    claim = store.claim_started(db, "r", 2)
    first_end, last_end = store.utcnow() - timedelta(seconds=5), store.utcnow()
    store.write_batch(
        db, store.Batch([], [], [], {made[0].id: {"status": "succeeded", "finished_at": first_end}})
    )
    assert store.drained(db) is None  # one still running
    store.write_batch(
        db, store.Batch([], [], [], {made[1].id: {"status": "failed", "finished_at": last_end}})
    )
    assert store.drained(db) == last_end
    assert len(claim.executions) == 2
