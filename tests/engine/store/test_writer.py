from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import definition, store
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
    """The driver-level statements write exactly what SQLAlchemy's typed path writes."""
    from datetime import UTC, datetime

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
        log = {"execution_id": execution_id, "step_id": "a", "seq": 1, "time": t}
        return store.Batch(
            step_inserts=[row, done],
            step_updates=[],
            logs=[{**log, "stream": "stdout", "text": "hello"}],
            executions={execution_id: {"status": "running", "started_at": t}},
        )

    def update(execution_id: int) -> store.Batch:
        """Step a, inserted running with its process, fails."""
        first, _ = batch(execution_id).step_inserts
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
    ]
    assert [r[4] for r in fast[0]] == ["failed", "succeeded"]  # a's update landed
    ((status, started, finished, duration, error),) = fast[2]
    assert (status, duration, error) == ("failed", 5000.0, "bad\u2400")
    assert started is not None and finished is not None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_many_executions_ended_in_one_batch_are_written_as_the_portable_path_does(
    tmp_path: Path, backend: str
) -> None:
    """PostgreSQL sets many executions' changes in one statement (a join on VALUES):
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
