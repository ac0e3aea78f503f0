"""``wfe prune`` (``wfe bench``: tests/engine/bench)."""

from __future__ import annotations

from datetime import UTC, datetime

from engine import store
from engine.store import tables
from tests.support import Wfe, add


def test_prune_removes_old_finished_executions(wfe: Wfe, db: store.Store) -> None:
    add(db, "name: w\nsteps:\n  - {id: a, log: x}\n")
    rows = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 5)
    e = tables.EXECUTION.c
    with db.writer.begin() as conn:
        conn.execute(
            tables.EXECUTION.update()
            .where(e.id.in_([r.id for r in rows[:3]]))
            .values(status="succeeded", finished_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    proc = wfe("prune", "--older-than", "1d")
    assert proc.exit_code == 0
    assert proc.stdout == "removed 3 execution(s) finished more than 24h00m ago\n"
    assert store.list_executions(db)[1] == 2  # the queued ones stay
    proc = wfe("prune", "--older-than", "1d")
    assert proc.exit_code == 0 and proc.stdout.startswith("removed 0 execution(s)")
