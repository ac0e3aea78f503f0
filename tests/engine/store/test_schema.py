"""The schema: its indexes, its version, upgrades from older stores, foreign databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import store
from engine.errors import SchemaError
from engine.store import tables

# Every test that takes `db` runs on SQLite and on PostgreSQL (skipped, saying why, where
# no server answers).
BACKENDS = ("sqlite", "postgresql")


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
    with sqlite3.connect(tmp_path / "old.db") as conn:  # a limit, for schema 10 to find
        conn.execute(
            "UPDATE workflow SET definition = replace(definition,"
            " 'name: flaky-retry', 'name: flaky-retry' || char(10) || 'concurrency: 2')"
        )
    db = store.open_store(url)
    try:
        assert store.health(db).schema_version == store.SCHEMA_VERSION
        assert store.get_workflow(db, "flaky-retry").concurrency == 2
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
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0010",)]
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


def test_open_store_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(SchemaError, match=r"holds other tables \(customers…\)"):
        store.open_store(f"sqlite:///{path}")


def test_open_store_refuses_a_database_missing_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store.open_store(url).close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("ALTER TABLE workflow DROP COLUMN last_scheduled_at")
    with pytest.raises(SchemaError, match=r"table workflow lacks last_scheduled_at\)"):
        store.open_store(url)
