from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import definition, store
from engine.errors import NotFound, SchemaError, StoreError
from engine.status import FINISHED
from engine.store import tables
from tests.conftest import add, postgres_database

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")

WF = """
name: wf
steps:
  - {id: a, log: one}
"""


def test_open_store_creates_owner_only_file_with_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "wfe.db"
    db = store.open_store(f"sqlite:///{path}")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with db.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "temp_store",
                    "busy_timeout",
                    "mmap_size",
                )
            }
        assert pragma == {
            "journal_mode": "wal",
            "synchronous": 1,
            "temp_store": 2,
            "busy_timeout": 10000,
            "mmap_size": 268435456,
        }
    finally:
        db.close()


def test_open_store_creates_the_seed_indexes(db: store.Store) -> None:
    inspector = sa.inspect(db.engine)
    indexes = {
        i["name"]: i["column_names"]
        for t in ("workflow", "execution")
        for i in inspector.get_indexes(t)
    }
    assert indexes["ix_workflow_is_active"] == ["is_active"]
    assert indexes["ix_workflow_updated_at"] == ["updated_at"]
    assert indexes["ix_execution_status"] == ["status"]
    # The seed's started_at index, widened to cover the dashboard's tallies.
    assert indexes["ix_execution_started_status_duration"] == [
        "started_at",
        "status",
        "duration_ms",
    ]
    assert indexes["ix_execution_workflow_status"] == ["workflow_id", "status"]


def test_open_store_refuses_newer_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store.open_store(url).close()
    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.execute("UPDATE wfe_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(
        SchemaError,
        match=rf"was written by a newer WorkflowEngine \(schema 99; this one knows up to"
        rf" {store.SCHEMA_VERSION}\); upgrade wfe to use it$",
    ):
        store.open_store(url)


SCHEMA_1 = Path(__file__).parent / "data" / "schema1.sql"  # a store written by wfe 0.1


def _schema_1_store(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_1.read_text())
    return f"sqlite:///{path}"


def test_open_store_upgrades_a_schema_1_store_keeping_its_data(tmp_path: Path) -> None:
    url = _schema_1_store(tmp_path / "old.db")
    db = store.open_store(url)
    try:
        assert store.health(db).schema_version == store.SCHEMA_VERSION
        (execution,), _total = store.list_executions(db)
        assert (execution.workflow_name, execution.status) == ("flaky-retry", "succeeded")
        runs = store.step_runs(db, execution.id or 0)
        assert [r.step_id for r in runs if r.status == "succeeded"] == ["flaky", "report", "tidy"]
        assert {(r.host, r.pid) for r in runs} == {(None, None)}
        # The old `wfe run` had a 15-second lease: it carries over as its expiry.
        with db.engine.connect() as conn:
            (worker,) = conn.execute(sa.select(tables.RUNNER)).all()
    finally:
        db.close()
    assert (worker.expires_at - worker.heartbeat_at).total_seconds() == 15
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    store.open_store(url).close()  # opening it again changes nothing


def test_the_migrations_build_exactly_the_tables_of_this_wfe(tmp_path: Path) -> None:
    """A schema change without its migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    db = store.open_store(_schema_1_store(tmp_path / "old.db"))
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        db.close()


def test_a_failed_upgrade_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = _schema_1_store(path)
    with sqlite3.connect(path) as conn:
        # Something the upgrade does not expect: it fails half-way, after adding `host`.
        conn.execute("ALTER TABLE step_run ADD COLUMN pid INTEGER")
    with pytest.raises(
        SchemaError,
        match=rf"old.db cannot be upgraded from schema 1 to {store.SCHEMA_VERSION}"
        r" \(duplicate column name: pid\);"
        r" it was left as it was$",
    ):
        store.open_store(url)
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(step_run)")]
        assert "host" not in columns
        assert conn.execute("SELECT value FROM wfe_meta").fetchall() == [("1",)]
        assert conn.execute("SELECT count(*) FROM execution").fetchone() == (1,)


def test_open_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(
        StoreError, match=r"^cannot open the database .*notes.db: file is not a database$"
    ):
        store.open_store(f"sqlite:///{path}")


def test_open_store_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(SchemaError, match=r"holds other tables \(customers…\)"):
        store.open_store(f"sqlite:///{path}")


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root can write to read-only folders, so the error cannot happen"
)
def test_open_store_in_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(StoreError, match=r"^cannot create the database .*: Permission denied$"):
        store.open_store(f"sqlite:///{folder / 'sub' / 'x.db'}")


def test_open_store_in_a_path_blocked_by_a_file(tmp_path: Path) -> None:
    # Works as root too: a regular file where the data folder should be.
    (tmp_path / "blocker").write_text("")
    with pytest.raises(
        StoreError,
        match=r"^cannot create the database .*blocker/x.db: (File exists|Not a directory)$",
    ):
        store.open_store(f"sqlite:///{tmp_path / 'blocker' / 'x.db'}")


def test_open_store_bad_url() -> None:
    with pytest.raises(
        StoreError,
        match=r"^cannot use nonsense://: unknown database 'nonsense'; use sqlite:///PATH or postgresql://HOST/NAME$",
    ):
        store.open_store("nonsense://")


def test_save_workflows_bumps_version_only_on_change(db: store.Store) -> None:
    from engine import definition

    v1 = definition.parse(WF, "wf.yaml")
    assert [s.change for s in store.save_workflows(db, [(v1, None)])] == ["created"]
    assert [s.change for s in store.save_workflows(db, [(v1, None)])] == ["unchanged"]
    v2 = definition.parse(WF.replace("one", "two"), "wf.yaml")
    saved = store.save_workflows(db, [(v2, None)])
    assert [(s.change, s.workflow.version) for s in saved] == [("updated", 2)]
    assert "two" in store.get_workflow(db, "wf").definition


def test_execution_keeps_the_version_it_ran(db: store.Store) -> None:
    from engine import definition

    add(db, WF)
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    store.save_workflows(db, [(definition.parse(WF.replace("one", "two")), None)])
    assert store.get_execution(db, e.id or 0).version == 1
    assert store.get_workflow(db, "wf").version == 2


def test_set_active_and_remove(db: store.Store) -> None:
    add(db, WF)
    assert store.set_active(db, "wf", False).active is False
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    store.request_cancel(db, e.id or 0)
    assert store.remove_workflow(db, "wf") == 1
    with pytest.raises(NotFound, match=r"^no workflow named 'wf'"):
        store.get_workflow(db, "wf")


def test_remove_refuses_while_running(db: store.Store) -> None:
    add(db, WF)
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    with pytest.raises(
        StoreError,
        match=r"^workflow 'wf' has 1 execution\(s\) queued or running; cancel them first$",
    ):
        store.remove_workflow(db, "wf")
    assert store.get_execution(db, e.id or 0).status == "queued"


def test_request_cancel_of_queued_and_finished(db: store.Store) -> None:
    add(db, WF)
    e = store.create_execution(db, store.get_workflow(db, "wf"), {})
    assert store.request_cancel(db, e.id or 0) == "queued"
    assert store.get_execution(db, e.id or 0).status == "cancelled"
    assert store.request_cancel(db, e.id or 0) == "cancelled"


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


def test_open_store_refuses_a_database_missing_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store.open_store(url).close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("ALTER TABLE workflow DROP COLUMN last_scheduled_at")
    with pytest.raises(SchemaError, match=r"table workflow lacks last_scheduled_at\)"):
        store.open_store(url)


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
        return store.Batch(step_inserts=[], step_updates=[ended], logs=[], executions={})

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
                ] + [conn.exec_driver_sql("SELECT status, started_at FROM execution").fetchall()]
        finally:
            db.close()

    if backend == "sqlite":
        fast = written(f"sqlite:///{tmp_path / 'fast.db'}", portable=False)
        portable = written(f"sqlite:///{tmp_path / 'portable.db'}", portable=True)
    else:
        with postgres_database() as one, postgres_database() as two:
            fast = written(one, portable=False)
            portable = written(two, portable=True)
    assert fast == portable
    assert [(r[1], r[2], r[-2], r[-1]) for r in fast[0]] == [
        (1, "a", "h", 4242),
        (1, "b", None, None),
    ]
    assert [r[4] for r in fast[0]] == ["failed", "succeeded"]  # a's update landed


def test_postgresql_without_its_driver_says_what_to_install(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"pip install 'workflow-engine\[postgres\]'$"):
        store.open_store("postgresql://someone:pw@127.0.0.1/wfe")


def test_recent_executions_are_the_newest_without_a_count(db: store.Store) -> None:
    store.save_workflows(db, [(definition.parse("name: w\nsteps: [{id: a, log: x}]\n"), None)])
    store.save_workflows(db, [(definition.parse("name: v\nsteps: [{id: a, log: x}]\n"), None)])
    made = store.create_executions(db, store.get_workflow(db, "w"), [{}] * 30)
    store.create_executions(db, store.get_workflow(db, "v"), [{}] * 5)
    recent = store.recent_executions(db, workflow="w", limit=10)
    assert [e.id for e in recent] == [e.id for e in reversed(made)][:10]
    page, total = store.list_executions(db, workflow="w", offset=10, limit=10)
    assert total == 30 and [e.id for e in page] == [e.id for e in reversed(made)][10:20]
