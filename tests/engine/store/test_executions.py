from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import definition, store
from engine.store import tables
from tests.support import add

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


WF = """
name: wf
steps:
  - {id: a, log: one}
"""


def test_execution_keeps_the_version_it_ran(db: store.Store) -> None:
    from engine import definition

    add(db, WF)
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    store.save_workflows(db, [(definition.parse(WF.replace("one", "two")), None)])
    assert store.get_execution(db, e.id or 0).version == 1
    assert store.get_workflow(db, "wf").version == 2


def test_request_cancel_of_queued_and_finished(db: store.Store) -> None:
    add(db, WF)
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    assert store.request_cancel(db, e.id or 0) == "queued"
    assert store.get_execution(db, e.id or 0).status == "cancelled"
    assert store.request_cancel(db, e.id or 0) == "cancelled"


def test_recent_executions_are_the_newest_without_a_count(db: store.Store) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    store.save_workflows(db, [(definition.parse("name: v\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 30)
    store.create_executions(db, store.get_workflow(db, "v"), [{}] * 5)
    recent = store.recent_executions(db, workflow="w", limit=10)
    assert [e.id for e in recent] == [e.id for e in reversed(made)][:10]
    page, total = store.list_executions(db, workflow="w", offset=10, limit=10)
    assert total == 30 and [e.id for e in page] == [e.id for e in reversed(made)][10:20]


def test_prune_deletes_old_finished_executions_in_batches(db: store.Store) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps:\n  - {id: a, log: x}\n"), None)])
    rows = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 5)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    e = tables.EXECUTION.c
    with db.writer.begin() as conn:
        for r in rows[:3]:
            conn.execute(
                tables.EXECUTION.update()
                .where(e.id == r.id)
                .values(status="succeeded", finished_at=long_ago)
            )
            conn.execute(
                tables.LOG_LINE.insert().values(
                    execution_id=r.id, step_id="a", seq=1, time=long_ago, stream="log", text="x"
                )
            )
    assert store.prune(db, older_than=30 * 86400, batch=2) == 3
    assert store.list_executions(db)[1] == 2  # the queued ones stay
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM log_line").scalar() == 0


def test_an_execution_id_is_never_given_twice(db: store.Store) -> None:
    # SQLite would number a new row after the highest one left: after a removal, the
    # ids of the removed executions would come back meaning other executions.
    add(db, WF)
    add(db, WF.replace("name: wf", "name: other"))
    first = store.create_executions(db, store.get_workflow(db, "other"), [{}])[0]
    removed = store.create_executions(db, store.get_workflow(db, "wf"), [{}, {}, {}])
    finish_all(db)
    assert store.remove_workflow(db, "wf") == 3
    add(db, WF)
    again = store.create_executions(db, store.get_workflow(db, "wf"), [{}, {}])
    assert [e.id for e in again] == [removed[-1].id + 1, removed[-1].id + 2]
    assert first.id < removed[0].id
    # The same after a prune of the newest ones, and for what a schedule fires.
    finish_all(db)
    assert store.prune(db, older_than=60) == 3
    row = store.get_workflow(db, "wf")
    fired = store.fire_schedule(db, row, [datetime(2030, 1, 1, tzinfo=UTC)], row.updated_at, {})
    assert [e.id for e in fired] == [again[-1].id + 1]


def finish_all(db: store.Store) -> None:
    """Every execution succeeded, long ago."""
    with db.writer.begin() as conn:
        conn.execute(
            tables.EXECUTION.update().values(
                status="succeeded", finished_at=datetime(2000, 1, 1, tzinfo=UTC)
            )
        )


def test_executions_sort_by_a_column_over_the_whole_list(db: store.Store) -> None:
    add(db, "name: a-wf\nsteps:\n  - {id: a, log: x}\n")
    add(db, "name: b-wf\nsteps:\n  - {id: a, log: x}\n")
    made = []
    for name, took in (("b-wf", 300.0), ("a-wf", 100.0), ("b-wf", None), ("a-wf", 200.0)):
        (e,) = store.create_executions(db, store.get_workflow(db, name), [{}])
        made.append(e.id)
        if took is not None:
            store.write_batch(
                db,
                store.Batch(
                    step_inserts=[],
                    step_updates=[],
                    logs=[],
                    executions={e.id: {"status": "succeeded", "duration_ms": took}},
                    finished=[],
                ),
            )

    def ids(order: str, descending: bool, **kw: object) -> list[int]:
        rows, _ = store.list_executions(db, order=order, descending=descending, **kw)
        return [r.id for r in rows]

    assert ids("id", True) == made[::-1]
    assert ids("duration", True) == [made[0], made[3], made[1], made[2]]  # unfinished last
    assert ids("duration", False) == [made[1], made[3], made[0], made[2]]
    assert ids("workflow", False)[:2] == [made[3], made[1]]  # a-wf, newest first
    # The order is the whole list's: the second page follows the first.
    assert ids("duration", True, limit=2) + ids("duration", True, limit=2, offset=2) == ids(
        "duration", True
    )
    with pytest.raises(ValueError, match="no order 'nope'"):
        store.list_executions(db, order="nope")


def test_the_filter_matches_fuzzily_word_by_word_and_takes_wildcards_literally(
    db: store.Store,
) -> None:
    for name in ("nightly-backup", "db-backup-2", "deploy", "web_100"):
        store.save_workflows(
            db, [(definition.parse(f"name: {name}\nsteps: [{{id: a, log: x}}]\n"), None)]
        )
    for name in ("nightly-backup", "db-backup-2", "deploy", "web_100"):
        store.create_execution(
            db,
            store.get_workflow(db, name),
            {},
            trigger="schedule" if "db" in name else "hook 100%" if "web" in name else "manual",
        )

    def found(text: str) -> set[str]:
        rows, total = store.list_executions(db, search=text)
        assert total == len(rows)
        return {e.workflow_name for e in rows}

    assert found("bkp") == {"nightly-backup", "db-backup-2"}  # in order, gaps allowed
    assert found("BKP") == found("bkp")  # any case
    assert found("pkb") == set()  # out of order: no
    assert found("bkp sched") == {"db-backup-2"}  # every word, each in some column
    assert found("queued dpl") == {"deploy"}  # the status is matched too
    assert found("100%") == {"web_100"}  # % and _ are themselves, not wildcards
    assert found("b_1") == {"web_100"}
    assert found("%") == {"web_100"}  # only its trigger has one
    assert found("_") == {"web_100"}
    workflows = lambda text: {s.workflow.name for s in store.list_workflows(db, search=text)[0]}  # noqa: E731
    assert workflows("ngtbkp") == {"nightly-backup"}
    assert workflows("_") == {"web_100"}


def test_what_a_queueing_also_writes_is_in_its_transaction(db: store.Store) -> None:
    # A re-run's reused steps go in with it: no runner can claim it without them.
    wf = add(db, "name: w\nsteps: [{id: a, log: x}]\n")
    row = store.get_workflow(db, wf.name)

    def fails(conn: object, made: list[store.Execution]) -> None:
        raise RuntimeError("the reused steps could not be written")

    with pytest.raises(RuntimeError):
        store.create_executions(db, row, [{}], also=fails)
    assert store.list_executions(db)[1] == 0  # nothing was queued without them
