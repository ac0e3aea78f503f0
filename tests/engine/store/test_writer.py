from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import definition, store
from engine.errors import StoreError
from engine.store import tables, writer
from tests.support import postgres_database

WF = """
name: wf
steps:
  - {id: a, log: one}
"""


def both_paths(
    backend: str, tmp_path: Path, written: Callable[[str, bool], list[Any]]
) -> tuple[list[Any], list[Any]]:
    """What ``written`` reads back after writing through the driver-level path and
    through the typed one, each on a store of its own of ``backend``."""
    if backend == "sqlite":
        return (
            written(f"sqlite:///{tmp_path / 'fast.db'}", False),
            written(f"sqlite:///{tmp_path / 'portable.db'}", True),
        )
    with postgres_database() as one, postgres_database() as two:
        return written(one, False), written(two, True)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_portable_write_path_writes_what_the_driver_path_does(
    tmp_path: Path, backend: str
) -> None:
    """The driver-level statements write exactly what SQLAlchemy's typed path writes:
    text beyond ASCII, a time in another zone, outputs that are JSON text or a string."""
    from datetime import UTC, datetime, timedelta, timezone

    plus2 = timezone(timedelta(hours=2))

    def batch(execution_id: int) -> store.Batch:
        t = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        row = {
            "execution_id": execution_id,
            "step_id": "a",
            "position": 0,
            "attempt": 1,
            "status": "running",
            "started_at": t,
            "finished_at": None,
            "duration_ms": None,
            "exit_code": None,
            "output": None,
            "error": None,
            "host": "h",
            "pid": 4242,
        }
        done = {**row, "step_id": "b", "position": 1, "status": "succeeded", "output": {"k": [1]}}
        done.update(finished_at=t, duration_ms=1.5, exit_code=0, pid=None, host=None)
        said = {**done, "step_id": "c", "position": 2, "output": 'é ✓ 🚀 \\u0041 "q"'}
        said.update(outputs={"n": "ü"}, started_at=datetime(2026, 11, 27, 14, 0, tzinfo=plus2))
        log = {"execution_id": execution_id, "step_id": "a", "seq": 1, "time": t}
        return store.Batch(
            step_inserts=[row, done, said],
            step_updates=[],
            logs=[
                {**log, "stream": "stdout", "text": "hello"},
                {**log, "seq": 2, "stream": "stderr", "text": "naïve 🚀 \t tab"},
            ],
            executions={execution_id: {"status": "running", "started_at": t}},
        )

    def update(execution_id: int) -> store.Batch:
        """Step a, inserted running with its process, fails."""
        first = batch(execution_id).step_inserts[0]
        t = datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
        ended = {**first, "step_id": "a", "status": "failed", "finished_at": t, "error": "x"}
        end = {"status": "failed", "finished_at": t, "duration_ms": 5000.0, "error": "bad\x00"}
        return store.Batch(
            step_inserts=[], step_updates=[ended], logs=[], executions={execution_id: end}
        )

    def written(url: str, portable: bool) -> list[Any]:
        db = store.open_store(url)
        try:
            wf = definition.parse(WF, "wf.yaml")
            store.save_workflows(db, [(wf, None)])
            (execution,) = store.create_executions(db, store.get_workflow(db, "wf"), [{}])
            store.write_batch(db, batch(execution.id), portable=portable)
            store.write_batch(db, update(execution.id), portable=portable)
            with db.engine.connect() as conn:
                return [
                    conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                    for table in ("step_run", "log_line")
                ] + [
                    conn.exec_driver_sql(
                        "SELECT status, started_at, finished_at, duration_ms, error FROM execution"
                    ).fetchall()
                ]
        finally:
            db.close()

    fast, portable = both_paths(backend, tmp_path, written)
    assert fast == portable
    assert [(r[1], r[2], r[-2], r[-1]) for r in fast[0]] == [
        (1, "a", "h", 4242),
        (1, "b", None, None),
        (1, "c", None, None),
    ]
    assert [r[4] for r in fast[0]] == ["failed", "succeeded", "succeeded"]  # a's update landed
    assert [r[-1] for r in fast[1]] == ["hello", "naïve 🚀 \t tab"]
    ((status, started, finished, duration, error),) = fast[2]
    assert (status, duration, error) == ("failed", 5000.0, "bad\u2400")
    assert started is not None and finished is not None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_many_executions_ended_in_one_batch_are_written_as_the_portable_path_does(
    tmp_path: Path, backend: str
) -> None:
    """PostgreSQL sets many executions' changes in one statement (a join on their rows):
    starts, ends with and without errors, NULLs among them, as the typed path does."""
    from datetime import UTC, datetime

    t = datetime(2026, 12, 1, 12, 0, 0, 250000, tzinfo=UTC)

    def written(url: str, portable: bool) -> list[Any]:
        db = store.open_store(url)
        try:
            store.save_workflows(db, [(definition.parse(WF, "wf.yaml"), None)])
            rows = store.create_executions(db, store.get_workflow(db, "wf"), [{}] * 5)
            ids = [r.id for r in rows]
            start = {i: {"status": "running", "started_at": t} for i in ids}
            store.write_batch(db, store.Batch([], [], [], start), portable=portable)
            ends = {
                ids[0]: {"status": "succeeded", "finished_at": t, "duration_ms": 1.5, "error": None},
                ids[1]: {"status": "failed", "finished_at": t, "duration_ms": 2.0, "error": "x\x00"},
                ids[2]: {"status": "failed", "finished_at": t, "duration_ms": None, "error": "y"},
                ids[3]: {"status": "cancelled", "finished_at": None, "duration_ms": 0.0, "error": ""},
            }  # fmt: skip
            store.write_batch(db, store.Batch([], [], [], ends), portable=portable)
            with db.engine.connect() as conn:
                return conn.exec_driver_sql(
                    "SELECT id, status, started_at, finished_at, duration_ms, error"
                    " FROM execution ORDER BY id"
                ).fetchall()
        finally:
            db.close()

    fast, portable = both_paths(backend, tmp_path, written)
    assert fast == portable
    assert [r[1] for r in fast] == ["succeeded", "failed", "failed", "cancelled", "running"]
    assert fast[1][5] == "x\u2400" and fast[3][3] is None and fast[4][3] is None


@contextmanager
def backend_store(backend: str, tmp_path: Path) -> Iterator[store.Store]:
    """A store of ``backend`` with the workflow ``wf``."""
    if backend == "sqlite":
        url_of = contextlib.nullcontext(f"sqlite:///{tmp_path / 'one.db'}")
    else:
        url_of = postgres_database()
    with url_of as url:
        db = store.open_store(url)
        try:
            store.save_workflows(db, [(definition.parse(WF, "wf.yaml"), None)])
            yield db
        finally:
            db.close()


def ending(execution_ids: list[int], owner: str) -> store.Batch:
    """A batch that runs step a of each execution and ends it, now (by the real clock:
    what prunes relative to it must not find these old)."""
    t = store.utcnow()
    step = {
        "position": 0, "attempt": 1, "status": "succeeded", "started_at": t, "finished_at": t,
        "duration_ms": 0.1, "exit_code": None, "output": None, "error": None,
    }  # fmt: skip
    end = {"status": "succeeded", "finished_at": t, "duration_ms": 1.0, "error": None}
    return store.Batch(
        step_inserts=[{**step, "execution_id": i, "step_id": "a"} for i in execution_ids],
        step_updates=[],
        logs=[
            {"execution_id": i, "step_id": "a", "seq": 1, "time": t, "stream": "log", "text": "x"}
            for i in execution_ids
        ],
        executions={i: dict(end) for i in execution_ids},
        finished=[(i, 1, "succeeded") for i in execution_ids],
        owner=owner,
    )


def rows_of(db: store.Store, execution_id: int) -> tuple[int, int, str | None, str]:
    """How many step runs and log lines ``execution_id`` has, who holds it, its status."""
    x = store.get_execution(db, execution_id)
    with db.engine.connect() as conn:
        steps, logs = (
            conn.exec_driver_sql(
                f"SELECT count(*) FROM {table} WHERE execution_id = {execution_id}"
            ).scalar_one()
            for table in ("step_run", "log_line")
        )
    return steps, logs, x.runner, x.status


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_goes_in_one_pipeline_where_the_driver_has_one(
    tmp_path: Path, backend: str
) -> None:
    """On PostgreSQL a batch's statements (fence, steps, logs, ends, the claim of the
    next, tallies) go out in one pipeline; SQLite has none: each statement as it comes."""
    with backend_store(backend, tmp_path) as db:
        wf = store.get_workflow(db, "wf")
        ids = [x.id for x in store.create_executions(db, wf, [{}] * 3)]
        assert store.claim(db, "me", 2) == ids[:2]
        done = writer._write_pipelined(db, ending(ids[:2], "me"), store.ClaimRequest("me", 2))
        if backend == "sqlite":
            assert done is None
            assert [rows_of(db, i) for i in ids[:2]] == [(0, 0, "me", "queued")] * 2
            return
        assert done is not None
        fenced, claimed = done
        assert fenced == set() and [x.id for x in claimed.executions] == ids[2:]
        assert claimed.executions[0] == store.get_execution(db, ids[2])
        assert [rows_of(db, i) for i in ids] == [
            (1, 1, "me", "succeeded"), (1, 1, "me", "succeeded"), (0, 0, "me", "running"),
        ]  # fmt: skip
        assert store.get_workflow(db, "wf").runs == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("lost_ends", [True, False], ids=["lost-one-ends", "lost-one-only-logs"])
def test_a_batch_whose_fence_finds_an_execution_taken_over_writes_only_its_own(
    tmp_path: Path, backend: str, lost_ends: bool
) -> None:
    """The pipeline fences as it goes (an execution it ends is changed only where this
    runner holds it; one it only writes steps and logs to is read first, locked, and
    looked at last): when another runner took one over, it writes nothing (rolled back)
    and the batch is written the careful way, without the lost execution's rows."""
    with backend_store(backend, tmp_path) as db:
        wf = store.get_workflow(db, "wf")
        mine, lost = (x.id for x in store.create_executions(db, wf, [{}] * 2))
        assert store.claim(db, "old", 2) == [mine, lost]
        with db.writer.begin() as conn:  # another runner took ``lost`` over
            conn.execute(
                tables.EXECUTION.update().where(tables.EXECUTION.c.id == lost).values(worker="new")
            )

        def batch() -> store.Batch:
            whole = ending([mine, lost], "old")
            if not lost_ends:
                whole.executions.pop(lost)
                whole.finished = [f for f in whole.finished if f[0] != lost]
            return whole

        assert writer._write_pipelined(db, batch(), None) is None
        assert rows_of(db, mine) == (0, 0, "old", "queued")  # nothing of it was kept
        assert store.write_batch(db, batch()) == {lost}
        assert rows_of(db, mine) == (1, 1, "old", "succeeded")
        assert rows_of(db, lost) == (0, 0, "new", "queued")
        assert store.get_workflow(db, "wf").runs == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_statement_that_fails_in_the_pipeline_fails_the_batch_as_it_is(
    tmp_path: Path, backend: str
) -> None:
    """A step row already written (the unique key refuses it): the pipeline rolls back
    and the careful way says what the database refused; nothing of the batch is kept."""
    with backend_store(backend, tmp_path) as db:
        wf = store.get_workflow(db, "wf")
        first, second = (x.id for x in store.create_executions(db, wf, [{}] * 2))
        assert store.claim(db, "me", 2) == [first, second]
        store.write_batch(db, dataclasses.replace(ending([first], "me"), executions={}))
        with pytest.raises(StoreError, match=r"(?i)unique|duplicate"):
            store.write_batch(db, ending([second, first], "me"))
        assert rows_of(db, second) == (0, 0, "me", "queued")
        assert rows_of(db, first) == (1, 1, "me", "queued")


def tally_rows(db: store.Store) -> list[tuple[int, str, int, int]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(tables.TALLY.select().order_by("runner")).all()]


def workflow_row_runs(db: store.Store) -> tuple[int, int]:
    """The workflow's own counts, without its runners' rows."""
    w = tables.WORKFLOW.c
    with db.engine.connect() as conn:
        runs, ok = conn.execute(sa.select(w.runs, w.succeeded).where(w.name == "wf")).one()
    return runs, ok


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_each_runner_tallies_in_a_row_of_its_own_folded_once_it_is_gone(
    tmp_path: Path, backend: str
) -> None:
    """Ends are counted in the ending runner's own row; the workflow is read with them
    added, everywhere; a runner's rows go into the workflow's when it stops, or when it
    is found gone (its lease run out), and the counts read stay the same throughout."""
    with backend_store(backend, tmp_path) as db:
        wf = store.get_workflow(db, "wf")
        ids = [x.id or 0 for x in store.create_executions(db, wf, [{}] * 4)]
        for runner in ("a", "b"):
            store.heartbeat(db, store.Runner.new(runner, host="h", pid=1, concurrency=2))
        assert store.claim(db, "a", 2) == ids[:2]
        assert store.claim(db, "b", 2) == ids[2:]
        failed = ending(ids[3:], "b")
        failed.executions[ids[3]]["status"] = "failed"
        failed.finished = [(ids[3], wf.id, "failed")]
        for batch in (ending(ids[:2], "a"), ending(ids[2:3], "b"), failed):
            store.write_batch(db, batch)

        def counts() -> tuple[int, int]:
            one = store.get_workflow(db, "wf")
            (listed,), _total = store.list_workflows(db)
            assert (listed.workflow.runs, listed.workflow.succeeded) == (one.runs, one.succeeded)
            return one.runs, one.succeeded

        assert tally_rows(db) == [(wf.id, "a", 2, 2), (wf.id, "b", 2, 1)]
        assert workflow_row_runs(db) == (0, 0) and counts() == (4, 3)
        assert store.fold_tallies(db) == 0  # both alive: nothing to fold
        store.heartbeat(
            db, store.Runner.new("a", host="h", pid=1, concurrency=2), stopped=True
        )  # a stops: its rows go into the workflow's
        assert tally_rows(db) == [(wf.id, "b", 2, 1)]
        assert workflow_row_runs(db) == (2, 2) and counts() == (4, 3)
        # b's lease runs out: whoever prunes next folds its rows
        store.heartbeat(db, store.Runner.new("b", host="h", pid=1, concurrency=2), lease=-1)
        assert store.prune(db, older_than=86400) == 0
        assert tally_rows(db) == []
        assert workflow_row_runs(db) == (4, 3) and counts() == (4, 3)
        assert store.fold_tallies(db) == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_tallies_after_a_fold_without_an_owner_and_of_a_removed_workflow(
    tmp_path: Path, backend: str
) -> None:
    """A runner that writes again after its rows were folded starts a new row; a batch
    without an owner counts in the row of nobody (""); removing a workflow removes its
    rows, its new namesake starts at 0, and a late batch of a runner that stalled
    meanwhile is written, counting nowhere (not refused: there is no foreign key)."""
    with backend_store(backend, tmp_path) as db:
        store.save_workflows(
            db, [(definition.parse("name: other\nsteps:\n  - {id: a, log: x}\n"), None)]
        )  # (so that wf's id is not the highest, and is not given again on SQLite)
        wf = store.get_workflow(db, "wf")
        ids = [x.id or 0 for x in store.create_executions(db, wf, [{}] * 4)]
        assert store.claim(db, "a", 3) == ids[:3]
        store.write_batch(db, ending(ids[:1], "a"))
        store.heartbeat(db, store.Runner.new("a", host="h", pid=1, concurrency=1), stopped=True)
        store.write_batch(db, ending(ids[1:2], "a"))  # after its fold
        store.write_batch(db, dataclasses.replace(ending(ids[2:3], "a"), owner=None))
        assert tally_rows(db) == [(wf.id, "", 1, 1), (wf.id, "a", 1, 1)]
        assert workflow_row_runs(db) == (1, 1) and store.get_workflow(db, "wf").runs == 3
        # ids[3]: a runner stalls holding it; another takes it over and ends it
        assert store.claim(db, "stalled", 1) == ids[3:]
        with db.writer.begin() as conn:
            conn.execute(
                tables.EXECUTION.update().where(tables.EXECUTION.c.id == ids[3]).values(worker="b")
            )
        store.write_batch(db, ending(ids[3:], "b"))
        assert store.remove_workflow(db, "wf") == 4
        assert tally_rows(db) == []
        store.save_workflows(db, [(definition.parse(WF, "wf.yaml"), None)])
        again = store.get_workflow(db, "wf")
        assert again.id != wf.id and (again.runs, again.succeeded) == (0, 0)
        late = dataclasses.replace(ending(ids[3:], "stalled"), step_inserts=[], logs=[])
        assert store.write_batch(db, late) == set()
        assert tally_rows(db) == [] and store.get_workflow(db, "wf").runs == 0
