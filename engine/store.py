"""The durable store: SQLModel tables, the SQLite/PostgreSQL connection and every query.

All SQL of the project lives here; the executor, the CLI and the console call these
functions. Every function is synchronous: trio code calls them through
``trio.to_thread.run_sync`` (the executor's writer does, for the hot path, in batches).

Times are aware UTC datetimes (SQLModel stores them as UTC and gives them back so).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import JSON, Field, Index, Session, SQLModel, col, func, select

from engine.errors import NotFound, SchemaError, StoreError

SCHEMA_VERSION = 3  # engine/migrations/versions holds one revision per version
DEFAULT_LEASE = 15.0  # seconds a runner's heartbeat holds its executions

EXECUTION_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
STEP_STATUSES = (
    "pending",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "timed_out",
)
FINISHED = frozenset({"succeeded", "failed", "cancelled", "timed_out"})


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


class WorkflowBase(SQLModel):
    name: str = Field(unique=True, max_length=200)
    description: str = ""
    definition: str
    digest: str = Field(max_length=64)
    version: int = 1
    is_active: bool = True
    schedule: str | None = None
    source_path: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Kept up to date as executions start and finish, so that a page of workflows with
    # their last run and success rate never scans the executions table.
    last_execution_id: int | None = None
    runs: int = 0
    succeeded: int = 0
    # The last schedule tick considered; missed ticks are counted from here.
    last_scheduled_at: datetime | None = None


class Workflow(WorkflowBase, table=True):
    __tablename__ = "workflow"
    __table_args__ = (
        Index("ix_workflow_is_active", "is_active"),
        Index("ix_workflow_updated_at", "updated_at"),
    )
    id: int | None = Field(default=None, primary_key=True)


class ExecutionBase(SQLModel):
    workflow_id: int = Field(foreign_key="workflow.id", ondelete="CASCADE")
    workflow_name: str = Field(max_length=200)
    version: int
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="queued", max_length=16)
    trigger: str = Field(default="manual", max_length=32)
    cancel_requested: bool = False
    worker: str | None = Field(default=None, max_length=100)  # who claimed it, if a worker did
    queued_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: str | None = None


class Execution(ExecutionBase, table=True):
    __tablename__ = "execution"
    __table_args__ = (
        Index("ix_execution_status", "status"),
        # Led by started_at (the seed's index) and covering the dashboard's 24-hour
        # tallies, which then never read the table: stats p99 23 -> 14 ms at 1,000,000.
        Index("ix_execution_started_status_duration", "started_at", "status", "duration_ms"),
        Index("ix_execution_workflow_status", "workflow_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)


class StepRun(SQLModel, table=True):
    __tablename__ = "step_run"
    __table_args__ = (Index("ux_step_run_key", "execution_id", "step_id", "attempt", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE")
    step_id: str = Field(max_length=200)
    position: int = 0
    status: str = Field(default="pending", max_length=16)
    attempt: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    exit_code: int | None = None
    output: Any = Field(default=None, sa_type=JSON(none_as_null=True), nullable=True)
    error: str | None = None
    # Where a shell step's process group runs, so that whoever takes the execution over
    # from a dead runner can end what the dead runner left behind.
    host: str | None = Field(default=None, max_length=200)
    pid: int | None = None


class LogLine(SQLModel, table=True):
    __tablename__ = "log_line"
    __table_args__ = (Index("ix_log_line_execution_seq", "execution_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE")
    step_id: str | None = Field(default=None, max_length=200)
    seq: int
    time: datetime
    stream: str = Field(max_length=8)
    text: str


class Worker(SQLModel, table=True):
    """A ``wfe worker`` process, alive while its heartbeat is fresh."""

    __tablename__ = "worker"
    id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(default="worker", max_length=16)  # worker, console or run
    host: str = Field(max_length=200)
    pid: int
    concurrency: int
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    # Its heartbeat plus its own lease: until then nobody takes its work, whatever lease
    # the others run with.
    expires_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None


class ApprovalRequest(SQLModel, table=True):
    """A human's decision an ``approval`` step waits for; it outlives restarts."""

    __tablename__ = "approval"
    execution_id: int = Field(primary_key=True, foreign_key="execution.id", ondelete="CASCADE")
    step_id: str = Field(primary_key=True, max_length=200)
    workflow_name: str = Field(max_length=200)
    prompt: str
    status: str = Field(default="pending", max_length=16)  # pending, approved, rejected
    reason: str | None = None
    decided_by: str | None = Field(default=None, max_length=200)
    requested_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None


class Lease(SQLModel, table=True):
    """A named lease (the scheduler's leadership): one holder until it expires."""

    __tablename__ = "lease"
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=100)
    expires_at: datetime


class Meta(SQLModel, table=True):
    __tablename__ = "wfe_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


# ---------------------------------------------------------------------------
# Opening a store
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """A handle on one database: the SQLAlchemy engine and what it points at."""

    url: str
    engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def path(self) -> Path | None:
        database = make_url(self.url).database
        return Path(database) if self.is_sqlite and database and database != ":memory:" else None

    def session(self) -> Session:
        """For reading."""
        return Session(self.engine, expire_on_commit=False)

    @functools.cached_property
    def writer(self) -> Engine:
        """The engine for transactions that write.

        On SQLite they begin with ``BEGIN IMMEDIATE``: a transaction that reads and then
        writes would otherwise fail at once with "database is locked" when another
        process wrote in between, instead of waiting its turn. On PostgreSQL they take
        an advisory lock first, for the same one-at-a-time.
        """
        return self.engine.execution_options(wfe_write=True)

    def write_session(self) -> Session:
        return Session(self.writer, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-20000",  # 20 MB
    "PRAGMA mmap_size=268435456",  # 256 MB
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # pysqlite's own transaction handling fights BEGIN IMMEDIATE; SQLAlchemy's recipe.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("wfe_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# PostgreSQL advisory lock keys: one for writing transactions, one for upgrades.
WRITE_LOCK = 7265101
UPGRADE_LOCK = 7265100


def _on_postgres_begin(conn: sa.Connection) -> None:
    # What BEGIN IMMEDIATE is on SQLite: a transaction that reads and then writes (a
    # lease, a take-over, a fence) goes one at a time, so two processes never both act
    # on what they read. Claims skip this: they lock rows (FOR UPDATE SKIP LOCKED).
    if conn.get_execution_options().get("wfe_write", False):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and create, and check the schema of) the database at ``url``.

    Raises:
        StoreError: the database cannot be reached, created or read.
        SchemaError: it was written by a newer schema.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise StoreError(
            f"{url!r} is not a database URL; write e.g. sqlite:///path/to/file.db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 (the `postgres` extra), whatever SQLAlchemy's default driver is.
        parsed = parsed.set(drivername="postgresql+psycopg")
        url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed.database)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    else:
        try:
            engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=8,
                max_overflow=8,
                # Times are stored as UTC without a zone, as on SQLite: the session's
                # zone must not shift them, whatever the server's default is.
                connect_args={"options": "-c timezone=UTC"},
            )
        except sa_exc.NoSuchModuleError:
            raise StoreError(
                f"cannot use {_safe(url)}: unknown database {parsed.get_backend_name()!r};"
                " use sqlite:///PATH or postgresql://HOST/NAME"
            ) from None
        except ImportError as exc:
            if parsed.get_backend_name() == "postgresql":
                raise StoreError(
                    f"cannot use {_safe(url)}: PostgreSQL needs the psycopg driver;"
                    " install it with: pip install 'workflow-engine[postgres]'"
                ) from None
            raise StoreError(f"cannot use {_safe(url)}: {exc}") from None
        except sa_exc.ArgumentError as exc:
            raise StoreError(f"cannot use {_safe(url)}: {exc}") from None
        if engine.dialect.name == "postgresql":
            event.listen(engine, "begin", _on_postgres_begin)
    store = Store(url=url, engine=engine)
    try:
        _check_schema(store, create=create)
    except BaseException:
        engine.dispose()
        raise
    return store


def _safe(url: str) -> str:
    """A URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def _prepare_sqlite_file(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created by us with mode 0600 before SQLite opens it; SQLite gives the -wal and
        # -shm files the same mode.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None


def _check_schema(store: Store, *, create: bool) -> None:
    where = store.path or _safe(store.url)
    try:
        with store.writer.begin() as conn:
            if not store.is_sqlite:
                # Two processes opening an older store at once: one upgrades, the other
                # waits and finds it done. (On SQLite, BEGIN IMMEDIATE is that lock.)
                conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})"))
            tables = set(sa.inspect(conn).get_table_names())
            if "wfe_meta" in tables:
                row = conn.execute(
                    select(Meta.value).where(Meta.key == "schema_version")
                ).scalar_one_or_none()
                version = int(row) if row is not None and row.isdigit() else None
                if version is None:
                    raise SchemaError(f"{where} has no schema version; it was not written by wfe")
                if version > SCHEMA_VERSION:
                    raise SchemaError(
                        f"{where} was written by a newer WorkflowEngine (schema {version};"
                        f" this one knows up to {SCHEMA_VERSION}); upgrade wfe to use it"
                    )
                if version < SCHEMA_VERSION:
                    _upgrade(conn, where, version)
                _check_columns(conn, where)
            elif tables - {"sqlite_sequence"} and not create:
                raise SchemaError(f"{where} holds tables that wfe did not write")
            elif tables - {"sqlite_sequence"}:
                raise SchemaError(
                    f"{where} holds other tables ({', '.join(sorted(tables)[:3])}…);"
                    " point --db at a new file or an empty database"
                )
            else:
                SQLModel.metadata.create_all(conn)
                conn.execute(
                    sa.insert(Meta).values(key="schema_version", value=str(SCHEMA_VERSION))
                )
    except SchemaError:
        raise
    except sa_exc.DBAPIError as exc:
        raise StoreError(f"cannot open the database {where}: {_reason(exc)}") from None


def _upgrade(conn: sa.Connection, where: object, version: int) -> None:
    """Migrate an older store to this schema, in the caller's transaction: whole or not at all."""
    from engine import migrations

    try:
        migrations.upgrade(conn, version, SCHEMA_VERSION)
    except Exception as exc:  # the database's or Alembic's: either way nothing was changed
        reason = _reason(exc) if isinstance(exc, sa_exc.DBAPIError) else str(exc)
        raise SchemaError(
            f"{where} cannot be upgraded from schema {version} to {SCHEMA_VERSION}"
            f" ({reason}); it was left as it was"
        ) from None
    conn.execute(
        sa.update(Meta).where(col(Meta.key) == "schema_version").values(value=str(SCHEMA_VERSION))
    )


def _check_columns(conn: sa.Connection, where: object) -> None:
    """A database of this schema version must have every column this wfe uses."""
    inspector = sa.inspect(conn)
    for table in SQLModel.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in present]
        if missing:
            raise SchemaError(
                f"{where} does not match this wfe's schema (table {table.name} lacks"
                f" {', '.join(missing)}); it was written by a development build — use a new file"
            )


def _reason(exc: sa_exc.DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return text


@contextmanager
def translate_errors(store: Store) -> Iterator[None]:
    """Turn the driver's errors into one-line :class:`StoreError`s."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise StoreError(
            f"database error on {store.path or _safe(store.url)}: {_reason(exc)}"
        ) from None
    except sqlite3.Error as exc:  # the SQLite hot path uses the driver directly
        raise StoreError(f"database error on {store.path or _safe(store.url)}: {exc}") from None


# ---------------------------------------------------------------------------
# Workflows
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    workflow: Workflow
    change: str  # "created" | "updated" | "unchanged"


def save_workflows(store: Store, items: Sequence[tuple[Any, str | None]]) -> list[Saved]:
    """Insert or update parsed workflows (``(definition.Workflow, path)``), all or none.

    A changed definition bumps the version; an unchanged one is left alone.
    """
    results: list[Saved] = []
    with translate_errors(store), store.write_session() as session, session.begin():
        for wf, path in items:
            row = session.exec(select(Workflow).where(Workflow.name == wf.name)).first()
            schedule = wf.schedule.cron if wf.schedule else None
            if row is None:
                row = Workflow(
                    name=wf.name,
                    description=wf.description,
                    definition=wf.source,
                    digest=wf.digest,
                    schedule=schedule,
                    source_path=path,
                )
                session.add(row)
                results.append(Saved(row, "created"))
            elif row.digest != wf.digest:
                row.definition, row.digest, row.description = wf.source, wf.digest, wf.description
                row.schedule, row.source_path = schedule, path or row.source_path
                row.version += 1
                row.updated_at = utcnow()
                session.add(row)
                results.append(Saved(row, "updated"))
            else:
                results.append(Saved(row, "unchanged"))
        session.flush()
    return results


def get_workflow(store: Store, name: str) -> Workflow:
    with translate_errors(store), store.session() as session:
        row = session.exec(select(Workflow).where(Workflow.name == name)).first()
    if row is None:
        raise NotFound(f"no workflow named {name!r}; `wfe workflow list` shows them")
    return row


@dataclass(frozen=True)
class WorkflowSummary:
    workflow: Workflow
    last_status: str | None
    last_run_at: datetime | None
    runs: int
    succeeded: int

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.runs if self.runs else None


def list_workflows(
    store: Store, *, offset: int = 0, limit: int = 50, search: str | None = None
) -> tuple[list[WorkflowSummary], int]:
    """A page of workflows by name with their last run, and the total count."""
    with translate_errors(store), store.session() as session:
        query = select(Workflow)
        count = select(func.count()).select_from(Workflow)
        if search:
            like = f"%{search}%"
            query = query.where(col(Workflow.name).ilike(like))
            count = count.where(col(Workflow.name).ilike(like))
        rows = session.exec(query.order_by(Workflow.name).offset(offset).limit(limit)).all()
        total = session.exec(count).one()
        last_ids = [r.last_execution_id for r in rows if r.last_execution_id is not None]
        last = {
            wid: (status, when)
            for wid, status, when in session.exec(
                select(Execution.workflow_id, Execution.status, Execution.queued_at).where(
                    col(Execution.id).in_(last_ids)
                )
            )
        }
    summaries = []
    for row in rows:
        assert row.id is not None
        last_status, last_at = last.get(row.id) or (None, None)
        summaries.append(WorkflowSummary(row, last_status, last_at, row.runs, row.succeeded))
    return summaries, total


def set_active(store: Store, name: str, active: bool) -> Workflow:
    with translate_errors(store), store.write_session() as session, session.begin():
        row = session.exec(select(Workflow).where(Workflow.name == name)).first()
        if row is None:
            raise NotFound(f"no workflow named {name!r}")
        row.is_active = active
        row.updated_at = utcnow()
        session.add(row)
    return row


def remove_workflow(store: Store, name: str) -> int:
    """Delete a workflow with its executions, steps and logs; returns executions removed.

    Refused while one of its executions is queued or running.
    """
    with translate_errors(store), store.write_session() as session, session.begin():
        row = session.exec(select(Workflow).where(Workflow.name == name)).first()
        if row is None:
            raise NotFound(f"no workflow named {name!r}")
        busy = session.exec(
            select(func.count())
            .select_from(Execution)
            .where(
                Execution.workflow_id == row.id, col(Execution.status).in_(("queued", "running"))
            )
        ).one()
        if busy:
            raise StoreError(
                f"workflow {name!r} has {busy} execution(s) queued or running; cancel them first"
            )
        ids = select(Execution.id).where(col(Execution.workflow_id) == row.id)
        session.execute(sa.delete(LogLine).where(col(LogLine.execution_id).in_(ids)))
        session.execute(sa.delete(StepRun).where(col(StepRun.execution_id).in_(ids)))
        removed = session.execute(
            sa.delete(Execution).where(col(Execution.workflow_id) == row.id)
        ).rowcount  # type: ignore[attr-defined]
        session.delete(row)
    return int(removed or 0)


# ---------------------------------------------------------------------------
# Executions
# ---------------------------------------------------------------------------


def create_execution(
    store: Store, workflow: Workflow, params: Mapping[str, Any], trigger: str = "manual"
) -> Execution:
    return create_executions(store, workflow, [params], trigger)[0]


def create_executions(
    store: Store,
    workflow: Workflow,
    params: Sequence[Mapping[str, Any]],
    trigger: str = "manual",
    *,
    owner: str | None = None,
) -> list[Execution]:
    """Queue executions of one workflow in one transaction (``owner``: already claimed)."""
    now = utcnow()
    with translate_errors(store), store.write_session() as session, session.begin():
        rows = [
            Execution(
                workflow_id=workflow.id or 0,
                workflow_name=workflow.name,
                version=workflow.version,
                params=dict(p),
                trigger=trigger,
                queued_at=now,
                worker=owner,
            )
            for p in params
        ]
        session.add_all(rows)
        session.flush()
        session.execute(
            sa.update(Workflow)
            .where(col(Workflow.id) == workflow.id)
            .values(last_execution_id=max(r.id or 0 for r in rows))
        )
    return rows


def get_execution(store: Store, execution_id: int) -> Execution:
    with translate_errors(store), store.session() as session:
        row = session.get(Execution, execution_id)
    if row is None:
        raise NotFound(f"no execution {execution_id}; `wfe executions list` shows them")
    return row


def list_executions(
    store: Store,
    *,
    status: str | None = None,
    workflow: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Execution], int]:
    """Newest first, with the total that matches (for a pager)."""
    with translate_errors(store), store.session() as session:
        rows = session.exec(_newest(status, workflow, offset, limit)).all()
        total = session.exec(
            select(func.count()).select_from(Execution).where(*_execution_filter(status, workflow))
        ).one()
    return list(rows), total


def recent_executions(
    store: Store,
    *,
    status: str | None = None,
    workflow: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> list[Execution]:
    """Newest first, without counting them all: on PostgreSQL a count of a million rows
    costs ~50 ms, the rows themselves well under one (the dashboard's table)."""
    with translate_errors(store), store.session() as session:
        return list(session.exec(_newest(status, workflow, offset, limit)).all())


def _newest(status: str | None, workflow: str | None, offset: int, limit: int) -> Any:
    return (
        select(Execution)
        .where(*_execution_filter(status, workflow))
        .order_by(col(Execution.id).desc())
        .offset(offset)
        .limit(limit)
    )


def _execution_filter(status: str | None, workflow: str | None) -> list[Any]:
    where = []
    if status:
        where.append(col(Execution.status) == status)
    if workflow:
        where.append(col(Execution.workflow_name) == workflow)
    return where


def step_runs(store: Store, execution_id: int, *, latest_only: bool = False) -> list[StepRun]:
    """An execution's step runs in file order (``latest_only``: each step's last attempt)."""
    with translate_errors(store), store.session() as session:
        rows = session.exec(
            select(StepRun)
            .where(StepRun.execution_id == execution_id)
            .order_by(col(StepRun.position), col(StepRun.attempt))
        ).all()
    return _last_attempts(rows) if latest_only else list(rows)


def _last_attempts(rows: Iterable[StepRun]) -> list[StepRun]:
    """Each step's last attempt, from runs ordered by position then attempt."""
    last: dict[str, StepRun] = {}
    for r in rows:
        last[r.step_id] = r
    return list(last.values())


@dataclass(frozen=True)
class StepWindow:
    """A page of an execution's steps, and where the whole execution stands."""

    runs: list[StepRun]  # the last attempt of each step in the page, in file order
    counts: dict[str, int]  # steps by status (their last attempt), over the execution
    first_active: int | None  # position of the first step running or waiting, if any


def step_window(
    store: Store, execution_id: int, *, start: int, limit: int, tally: bool = True
) -> StepWindow:
    """Steps at positions ``start`` to ``start + limit``, with the execution's tallies.

    Indexed queries however many steps the execution has: a console showing a 10,000-step
    execution reads a page, not the lot. The tally still counts every step (some 30 ms
    for 10,000): without ``tally`` it is left empty.
    """
    s = _STEP_TABLE.c
    later = _STEP_TABLE.alias("later")
    last_attempt = ~sa.exists().where(
        later.c.execution_id == s.execution_id,
        later.c.step_id == s.step_id,
        later.c.attempt > s.attempt,
    )
    with translate_errors(store), store.session() as session:  # one connection, one snapshot
        conn = session.connection()
        counts = (
            {
                status: int(n)
                for status, n in conn.execute(
                    sa.select(s.status, func.count())
                    .where(s.execution_id == execution_id, last_attempt)
                    .group_by(s.status)
                )
            }
            if tally
            else {}
        )
        first_active = conn.execute(
            sa.select(func.min(s.position)).where(
                s.execution_id == execution_id, s.status.in_(("running", "waiting"))
            )
        ).scalar_one_or_none()
        rows = session.exec(
            select(StepRun)
            .where(
                StepRun.execution_id == execution_id,
                col(StepRun.position) >= start,
                col(StepRun.position) < start + limit,
            )
            .order_by(col(StepRun.position), col(StepRun.attempt))
        ).all()
    return StepWindow(_last_attempts(rows), counts, first_active)


def log_tail(
    store: Store, execution_id: int, *, limit: int, before_seq: int | None = None
) -> list[LogLine]:
    """The last ``limit`` lines of an execution's log (before ``before_seq``), in order."""
    with translate_errors(store), store.session() as session:
        query = select(LogLine).where(LogLine.execution_id == execution_id)
        if before_seq is not None:
            query = query.where(col(LogLine.seq) < before_seq)
        rows = session.exec(query.order_by(col(LogLine.seq).desc()).limit(limit)).all()
    return list(reversed(rows))


def log_lines(
    store: Store,
    execution_id: int,
    *,
    step_id: str | None = None,
    after_seq: int = 0,
    limit: int = 1000,
) -> list[LogLine]:
    """Lines after ``after_seq`` in order; page with the last line's ``seq``."""
    with translate_errors(store), store.session() as session:
        query = select(LogLine).where(
            LogLine.execution_id == execution_id, col(LogLine.seq) > after_seq
        )
        if step_id is not None:
            query = query.where(LogLine.step_id == step_id)
        return list(session.exec(query.order_by(col(LogLine.seq)).limit(limit)).all())


def request_cancel(store: Store, execution_id: int) -> str:
    """Ask for an execution to stop. A queued one is cancelled at once.

    Returns the status it had: a finished execution is left as it is.
    """
    with translate_errors(store), store.write_session() as session, session.begin():
        row = session.get(Execution, execution_id)
        if row is None:
            raise NotFound(f"no execution {execution_id}")
        previous = row.status
        if row.status == "queued":
            now = utcnow()
            row.status, row.finished_at, row.error = "cancelled", now, "cancelled before it started"
        elif row.status == "running":
            row.cancel_requested = True
        session.add(row)
    return previous


def cancel_requested(store: Store, ids: Iterable[int]) -> list[int]:
    ids = list(ids)
    if not ids:
        return []
    with translate_errors(store), store.engine.connect() as conn:
        return list(
            conn.execute(
                select(Execution.id).where(
                    col(Execution.id).in_(ids), col(Execution.cancel_requested)
                )
            ).scalars()
        )


def rerun(store: Store, execution_id: int, from_step: str | None = None) -> Execution:
    """Queue a new execution with the same params.

    With ``from_step``, the steps that neither are it nor follow from it keep the results
    they had (copied, never run again); the executor resumes from there.
    """
    from engine import definition  # the store otherwise knows nothing of definitions

    old = get_execution(store, execution_id)
    workflow = get_workflow(store, old.workflow_name)
    keep: set[str] = set()
    if from_step is not None:
        wf = definition.parse(workflow.definition, workflow.name)
        deps = wf.dependencies()
        if from_step not in deps:
            raise NotFound(
                f"workflow {wf.name!r} has no step {from_step!r} (steps: {', '.join(deps)})"
            )
        downstream = {from_step}
        changed = True
        while changed:
            changed = False
            for sid, needs in deps.items():
                if sid not in downstream and downstream.intersection(needs):
                    downstream.add(sid)
                    changed = True
        keep = set(deps) - downstream
    (new,) = create_executions(store, workflow, [old.params], trigger=f"rerun of {execution_id}")
    if keep:
        reused = [
            r
            for r in step_runs(store, execution_id, latest_only=True)
            if r.step_id in keep and r.status in ("succeeded", "skipped")
        ]
        with translate_errors(store), store.writer.begin() as conn:
            if reused:
                conn.execute(
                    _STEP_TABLE.insert(),
                    [
                        {
                            "execution_id": new.id,
                            "step_id": r.step_id,
                            "position": r.position,
                            "attempt": 1,
                            "status": r.status,
                            "started_at": r.started_at,
                            "finished_at": r.finished_at,
                            "duration_ms": r.duration_ms,
                            "exit_code": r.exit_code,
                            "output": r.output,
                            "error": f"reused from execution {execution_id}",
                        }
                        for r in reused
                    ],
                )
    return new


def request_approval(
    store: Store, execution_id: int, step_id: str, workflow_name: str, prompt: str
) -> ApprovalRequest:
    """The approval a step waits for: created once, found again after a restart."""
    with translate_errors(store), store.write_session() as session, session.begin():
        row = session.get(ApprovalRequest, (execution_id, step_id))
        if row is None:
            row = ApprovalRequest(
                execution_id=execution_id,
                step_id=step_id,
                workflow_name=workflow_name,
                prompt=prompt,
            )
            session.add(row)
    return row


def get_approval(store: Store, execution_id: int, step_id: str) -> ApprovalRequest:
    with translate_errors(store), store.session() as session:
        row = session.get(ApprovalRequest, (execution_id, step_id))
    if row is None:
        raise NotFound(f"execution {execution_id} has no approval step {step_id!r} waiting")
    return row


def decide(
    store: Store, execution_id: int, step_id: str, *, approve: bool, reason: str | None, by: str
) -> ApprovalRequest:
    """Approve or reject a pending approval; refused once it is decided."""
    with translate_errors(store), store.write_session() as session, session.begin():
        row = session.get(ApprovalRequest, (execution_id, step_id))
        if row is None:
            raise NotFound(f"execution {execution_id} has no approval step {step_id!r} waiting")
        if row.status != "pending":
            raise StoreError(f"execution {execution_id} step {step_id!r} was already {row.status}")
        row.status = "approved" if approve else "rejected"
        row.reason, row.decided_by, row.decided_at = reason, by, utcnow()
        session.add(row)
    return row


def pending_approvals(store: Store, *, limit: int = 50) -> list[ApprovalRequest]:
    with translate_errors(store), store.session() as session:
        return list(
            session.exec(
                select(ApprovalRequest)
                .where(ApprovalRequest.status == "pending")
                .order_by(col(ApprovalRequest.requested_at))
                .limit(limit)
            ).all()
        )


def acquire_lease(store: Store, name: str, holder: str, *, ttl: float) -> bool:
    """Take or renew lease ``name`` for ``ttl`` seconds; False while someone else holds it."""
    now = utcnow()
    with translate_errors(store), store.write_session() as session, session.begin():
        lease = session.get(Lease, name)
        if lease is not None and lease.holder != holder and lease.expires_at > now:
            return False
        if lease is None:
            lease = Lease(name=name, holder=holder, expires_at=now)
        lease.holder, lease.expires_at = holder, now + timedelta(seconds=ttl)
        session.add(lease)
    return True


def scheduled_workflows(store: Store) -> list[Workflow]:
    with translate_errors(store), store.session() as session:
        return list(
            session.exec(
                select(Workflow).where(col(Workflow.schedule).is_not(None), col(Workflow.is_active))
            ).all()
        )


def fire_schedule(
    store: Store, workflow: Workflow, ticks: Sequence[datetime], considered: datetime
) -> list[Execution]:
    """Queue one execution per tick and move the workflow's schedule mark, together."""
    rows: list[Execution] = []
    with translate_errors(store), store.write_session() as session, session.begin():
        current = session.get(Workflow, workflow.id)
        if current is None or current.last_scheduled_at != workflow.last_scheduled_at:
            return []  # someone else fired these ticks
        for tick in ticks:
            params = definition_params(current)
            row = Execution(
                workflow_id=current.id or 0,
                workflow_name=current.name,
                version=current.version,
                params=params,
                trigger=f"schedule {tick:%Y-%m-%d %H:%M}",
            )
            session.add(row)
            rows.append(row)
        session.flush()
        if rows:
            current.last_execution_id = max(r.id or 0 for r in rows)
        current.last_scheduled_at = considered
        session.add(current)
    return rows


def definition_params(workflow: Workflow) -> dict[str, Any]:
    from engine import definition

    return dict(definition.parse(workflow.definition, workflow.name).params)


def prune(store: Store, *, older_than: float, batch: int = 1000) -> int:
    """Delete executions finished more than ``older_than`` seconds ago, in batches."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    e = _EXEC_TABLE.c
    removed = 0
    while True:
        with translate_errors(store), store.writer.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(e.id)
                    .where(e.status.in_(tuple(FINISHED)), e.finished_at < cutoff)
                    .order_by(e.id)
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return removed
            conn.execute(_LOG_TABLE.delete().where(_LOG_TABLE.c.execution_id.in_(ids)))
            conn.execute(_STEP_TABLE.delete().where(_STEP_TABLE.c.execution_id.in_(ids)))
            conn.execute(_EXEC_TABLE.delete().where(e.id.in_(ids)))
        removed += len(ids)


# ---------------------------------------------------------------------------
# Workers: heartbeats and the claim
# ---------------------------------------------------------------------------


def heartbeat(
    store: Store, worker: Worker, *, lease: float = DEFAULT_LEASE, stopped: bool = False
) -> None:
    """Record that ``worker`` is alive for ``lease`` more seconds (or has ``stopped``)."""
    now = utcnow()
    with translate_errors(store), store.write_session() as session, session.begin():
        row = session.get(Worker, worker.id)
        if row is None:
            row = Worker.model_validate(worker.model_dump())
        row.heartbeat_at = now
        row.expires_at = now + timedelta(seconds=lease)
        row.stopped_at = now if stopped else None
        session.add(row)


def live_workers(store: Store, *, kind: str | None = "worker") -> list[Worker]:
    """Runners of ``kind`` (any kind: None) whose lease has not expired."""
    with translate_errors(store), store.session() as session:
        query = select(Worker).where(
            col(Worker.expires_at) >= utcnow(), col(Worker.stopped_at).is_(None)
        )
        if kind is not None:
            query = query.where(Worker.kind == kind)
        return list(session.exec(query).all())


def assign(store: Store, execution_id: int, owner: str | None) -> None:
    """Lease a queued, unclaimed execution to ``owner`` (the process about to run it)."""
    e = _EXEC_TABLE.c
    with translate_errors(store), store.writer.begin() as conn:
        conn.execute(
            _EXEC_TABLE.update()
            .where(e.id == execution_id, e.worker.is_(None), e.status == "queued")
            .values(worker=owner)
        )


def take_over(store: Store, worker_id: str, *, limit: int) -> dict[int, str]:
    """Claim executions whose runner has stopped or let its lease expire.

    Returns each one's id with the runner it was taken from.

    Each runner's lease is its own (recorded with each heartbeat), so a taker started
    with a shorter lease never takes work from a runner that is merely slower to beat.

    They are resumed by the new owner; from this commit on, the old owner's writes to
    them are fenced off (see :func:`write_batch`).
    """
    if limit <= 0:
        return {}
    e, w = _EXEC_TABLE.c, Worker.__table__.c  # type: ignore[attr-defined]
    alive = sa.select(w.id).where(w.expires_at >= utcnow(), w.stopped_at.is_(None))
    with translate_errors(store), store.writer.begin() as conn:
        taken: dict[int, str] = dict(
            conn.execute(
                sa.select(e.id, e.worker)
                .where(
                    e.status.in_(("queued", "running")),
                    e.worker.is_not(None),
                    e.worker != worker_id,
                    e.worker.not_in(alive),
                )
                .order_by(e.id)
                .limit(limit)
            ).all()
        )
        if taken:
            conn.execute(_EXEC_TABLE.update().where(e.id.in_(taken)).values(worker=worker_id))
    return taken


def last_log_seq(store: Store, execution_id: int) -> int:
    with translate_errors(store), store.engine.connect() as conn:
        value = conn.execute(
            sa.select(func.max(LogLine.seq)).where(col(LogLine.execution_id) == execution_id)
        ).scalar_one_or_none()
    return int(value or 0)


def claim(store: Store, worker_id: str, limit: int) -> list[int]:
    """Take up to ``limit`` queued executions for ``worker_id``, oldest first.

    Atomic across processes: on SQLite a ``BEGIN IMMEDIATE`` transaction takes the write
    lock before reading, so two workers never claim the same execution; on PostgreSQL
    the rows are locked as they are read (``FOR UPDATE SKIP LOCKED``), and a worker
    skips what another is claiming instead of waiting for it.
    """
    if limit <= 0:
        return []
    with translate_errors(store):
        if store.is_sqlite:
            raw = store.engine.raw_connection()
            try:
                cursor = raw.cursor()
                # A plain read first: an idle worker polls often, and must not take the
                # write lock each time to find nothing.
                waiting = cursor.execute(
                    "SELECT 1 FROM execution WHERE status = 'queued' AND worker IS NULL LIMIT 1"
                ).fetchone()
                if waiting is None:
                    cursor.close()
                    return []
                cursor.execute("BEGIN IMMEDIATE")
                ids = [
                    row[0]
                    for row in cursor.execute(
                        "SELECT id FROM execution WHERE status = 'queued' AND worker IS NULL"
                        " ORDER BY id LIMIT ?",
                        (limit,),
                    )
                ]
                if ids:
                    marks = ", ".join("?" * len(ids))
                    cursor.execute(
                        f"UPDATE execution SET worker = ? WHERE id IN ({marks})", (worker_id, *ids)
                    )
                raw.commit()
                cursor.close()
            except BaseException:
                raw.rollback()
                raise
            finally:
                raw.close()
            return ids
        with store.engine.begin() as conn:
            e = _EXEC_TABLE.c
            ids = list(
                conn.execute(
                    sa.select(e.id)
                    .where(e.status == "queued", e.worker.is_(None))
                    .order_by(e.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if ids:
                conn.execute(_EXEC_TABLE.update().where(e.id.in_(ids)).values(worker=worker_id))
            return ids


# ---------------------------------------------------------------------------
# The hot path: batched writes from the executor
# ---------------------------------------------------------------------------


@dataclass
class Batch:
    """One group commit: step runs to insert or update, log lines, execution changes."""

    step_inserts: list[dict[str, Any]]
    step_updates: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    executions: dict[int, dict[str, Any]]
    # (execution id, workflow id, status) of executions that ended, for the tallies
    finished: list[tuple[int, int, str]] = field(default_factory=list)
    owner: str | None = None  # the worker writing it: rows of executions it lost are dropped

    def __len__(self) -> int:
        return (
            len(self.step_inserts) + len(self.step_updates) + len(self.logs) + len(self.executions)
        )


_STEP_TABLE = StepRun.__table__  # type: ignore[attr-defined]
_LOG_TABLE = LogLine.__table__  # type: ignore[attr-defined]
_EXEC_TABLE = Execution.__table__  # type: ignore[attr-defined]
_WORKFLOW_TABLE = Workflow.__table__  # type: ignore[attr-defined]
_STEP_FIELDS = (
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "exit_code",
    "output",
    "error",
)
_ONE_STEP_RUN = _STEP_TABLE.update().where(
    _STEP_TABLE.c.execution_id == sa.bindparam("k_execution_id"),
    _STEP_TABLE.c.step_id == sa.bindparam("k_step_id"),
    _STEP_TABLE.c.attempt == sa.bindparam("k_attempt"),
)
_STEP_UPDATE = _ONE_STEP_RUN.values({f: sa.bindparam(f) for f in _STEP_FIELDS})


def write_batch(store: Store, batch: Batch) -> set[int]:
    """Write one batch in one transaction (the executor's group commit).

    Returns the executions whose rows were dropped because ``batch.owner`` no longer owns
    them (another worker took them over): the fence.
    """
    with translate_errors(store), store.writer.begin() as conn:
        fenced = _fence(conn, batch) if batch.owner is not None else set()
        driver = _DRIVERS.get((store.engine.dialect.name, store.engine.dialect.driver))
        if driver is not None:
            _write_driver(conn, batch, driver)
        else:
            _write_core(conn, batch)
    return fenced


def _fence(conn: sa.Connection, batch: Batch) -> set[int]:
    ids = {r["execution_id"] for r in (*batch.step_inserts, *batch.step_updates, *batch.logs)}
    ids |= set(batch.executions)
    if not ids:
        return set()
    e = _EXEC_TABLE.c
    # Lost: claimed by someone else since. (Unclaimed ones are nobody else's.)
    lost = set(
        conn.execute(
            sa.select(e.id).where(e.id.in_(ids), e.worker.is_not(None), e.worker != batch.owner)
        ).scalars()
    )
    if lost:
        batch.step_inserts = [r for r in batch.step_inserts if r["execution_id"] not in lost]
        batch.step_updates = [r for r in batch.step_updates if r["execution_id"] not in lost]
        batch.logs = [r for r in batch.logs if r["execution_id"] not in lost]
        batch.executions = {k: v for k, v in batch.executions.items() if k not in lost}
        batch.finished = [f for f in batch.finished if f[0] not in lost]
    return lost


_STEP_COLUMNS = ("execution_id", "step_id", "position", "attempt", *_STEP_FIELDS)
_LOG_COLUMNS = ("execution_id", "step_id", "seq", "time", "stream", "text")


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int, mark: str) -> str:
    one = f"({', '.join([mark] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)}"


def _insert_rows(
    cursor: Any, table: str, columns: tuple[str, ...], flat: list[Any], mark: str
) -> None:
    """Insert rows given as one flat list of values, with multi-row VALUES statements.

    ``executemany`` steps SQLite once per row and hands the GIL back and forth each
    time, which starves the trio thread; one statement per chunk steps once. Chunks are
    powers of two (at most 256 rows) to keep the distinct statements few.
    """
    width = len(columns)
    rows = len(flat) // width
    i = 0
    while i < rows:
        size = min(256, 1 << ((rows - i).bit_length() - 1))
        sql = _insert_sql(table, columns, size, mark)
        cursor.execute(sql, flat[i * width : (i + size) * width])
        i += size


@dataclass(frozen=True)
class _Driver:
    """How the driver-level write path speaks to one DBAPI driver."""

    mark: str  # its parameter placeholder
    # Per batch: how a datetime is passed (SQLite: the text SQLAlchemy would write).
    times: Callable[[], Callable[[datetime | None], Any]]
    copy: bool = False  # inserts go by COPY (PostgreSQL's bulk path), not multi-row VALUES

    def insert(self, cursor: Any, table: str, columns: tuple[str, ...], flat: list[Any]) -> None:
        if self.copy:
            _copy_rows(cursor, table, columns, flat)
        else:
            _insert_rows(cursor, table, columns, flat, self.mark)

    @functools.cached_property
    def step_update(self) -> str:
        sets = ", ".join(f"{c} = {self.mark}" for c in _STEP_FIELDS)
        return f"UPDATE step_run SET {sets} WHERE {self._key}"

    @functools.cached_property
    def process_update(self) -> str:
        return f"UPDATE step_run SET host = {self.mark}, pid = {self.mark} WHERE {self._key}"

    @property
    def _key(self) -> str:
        m = self.mark
        return f"execution_id = {m} AND step_id = {m} AND attempt = {m}"


def _copy_rows(cursor: Any, table: str, columns: tuple[str, ...], flat: list[Any]) -> None:
    """Insert rows given as one flat list of values with COPY (psycopg)."""
    width = len(columns)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for i in range(0, len(flat), width):
            copy.write_row(flat[i : i + width])


def _as_is() -> Callable[[datetime | None], Any]:
    return lambda value: value


def _sqlite_time(value: datetime | None) -> str | None:
    # The text SQLAlchemy's SQLite DATETIME writes and reads back, in UTC.
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _times() -> Callable[[datetime | None], str | None]:
    """:func:`_sqlite_time` for one batch, once per datetime object.

    A step's start, end and log line often share one timestamp object (an instant step
    takes one); the batch holds them all alive, so their ids are stable keys meanwhile.
    """
    seen: dict[int, str | None] = {}

    def text(value: datetime | None) -> str | None:
        key = id(value)
        found = seen.get(key)
        if found is None:
            found = seen[key] = _sqlite_time(value)
        return found

    return text


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return _json_string(value)  # what json.dumps does for a str, without its layers
    return json.dumps(value)


_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _step_values(
    r: Mapping[str, Any], time: Callable[[datetime | None], str | None]
) -> tuple[Any, ...]:
    started, finished = r["started_at"], r["finished_at"]
    started_text = time(started)
    return (
        r["status"],
        started_text,
        started_text if finished is started else time(finished),
        r["duration_ms"],
        r["exit_code"],
        _json_text(r["output"]),
        r["error"],
    )


def _write_driver(conn: sa.Connection, batch: Batch, driver: _Driver) -> None:
    """The hot path: plain multi-row statements on the driver, no per-row ORM work.

    SQLAlchemy's per-row processing holds the GIL that the trio thread needs (and with
    psycopg it sends one statement per row); this writes the same values, three to five
    times faster.
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    time = driver.times()
    try:
        if batch.step_inserts:
            flat: list[Any] = []
            add = flat.extend
            for r in batch.step_inserts:
                add((r["execution_id"], r["step_id"], r["position"], r["attempt"]))
                add(_step_values(r, time))
            driver.insert(cursor, "step_run", _STEP_COLUMNS, flat)
        if batch.step_updates:
            cursor.executemany(
                driver.step_update,
                [
                    (*_step_values(r, time), r["execution_id"], r["step_id"], r["attempt"])
                    for r in batch.step_updates
                ],
            )
        if batch.logs:
            flat = []
            add = flat.extend
            for r in batch.logs:
                add(
                    (
                        r["execution_id"],
                        r["step_id"],
                        r["seq"],
                        time(r["time"]),
                        r["stream"],
                        r["text"],
                    )
                )
            driver.insert(cursor, "log_line", _LOG_COLUMNS, flat)
        processes = _processes((*batch.step_inserts, *batch.step_updates))
        if processes:
            cursor.executemany(driver.process_update, processes)
    finally:
        cursor.close()
    _write_executions(conn, batch)


# The drivers the hot path speaks to; any other goes through SQLAlchemy (_write_core).
_DRIVERS = {
    ("sqlite", "pysqlite"): _Driver("?", _times),
    # psycopg takes datetimes as they are, and JSON text for a json column.
    ("postgresql", "psycopg"): _Driver("%s", _as_is, copy=True),
}


# Where a shell step's process group runs: only shell steps have one, so it is written
# apart, and the rows of every other step carry nothing more.
_PROCESS_UPDATE = _ONE_STEP_RUN.values(host=sa.bindparam("p_host"), pid=sa.bindparam("p_pid"))


def _processes(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["host"], r["pid"], r["execution_id"], r["step_id"], r["attempt"])
        for r in rows
        if r.get("pid") is not None
    ]


def _write_core(conn: sa.Connection, batch: Batch) -> None:
    if batch.step_inserts:
        conn.execute(_STEP_TABLE.insert(), batch.step_inserts)
    if batch.step_updates:
        conn.execute(
            _STEP_UPDATE,
            [
                {
                    "k_execution_id": r["execution_id"],
                    "k_step_id": r["step_id"],
                    "k_attempt": r["attempt"],
                    **{f: r.get(f) for f in _STEP_FIELDS},
                }
                for r in batch.step_updates
            ],
        )
    if batch.logs:
        conn.execute(_LOG_TABLE.insert(), batch.logs)
    processes = _processes(batch.step_updates)  # inserted rows carry theirs already
    if processes:
        conn.execute(
            _PROCESS_UPDATE,
            [
                dict(
                    zip(
                        ("p_host", "p_pid", "k_execution_id", "k_step_id", "k_attempt"),
                        p,
                        strict=True,
                    )
                )
                for p in processes
            ],
        )
    _write_executions(conn, batch)


def _write_executions(conn: sa.Connection, batch: Batch) -> None:
    for execution_id, values in batch.executions.items():
        conn.execute(_EXEC_TABLE.update().where(_EXEC_TABLE.c.id == execution_id).values(values))
    tally: dict[int, list[int]] = {}
    for _execution_id, workflow_id, status in batch.finished:
        if status in ("succeeded", "failed", "timed_out"):
            counts = tally.setdefault(workflow_id, [0, 0])
            counts[0] += 1
            counts[1] += status == "succeeded"
    w = _WORKFLOW_TABLE.c
    for workflow_id, (runs, ok) in tally.items():
        conn.execute(
            _WORKFLOW_TABLE.update()
            .where(w.id == workflow_id)
            .values(runs=w.runs + runs, succeeded=w.succeeded + ok)
        )


# ---------------------------------------------------------------------------
# Statistics and health
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    workflows: int
    active_workflows: int
    running: int
    queued: int
    succeeded: int
    failed: int
    cancelled: int
    finished: int
    average_duration_ms: float | None
    since: datetime | None

    @property
    def success_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return self.succeeded / done if done else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflows": self.workflows,
            "active_workflows": self.active_workflows,
            "running": self.running,
            "queued": self.queued,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "success_rate": self.success_rate,
            "average_duration_ms": self.average_duration_ms,
            "since": self.since.isoformat() if self.since else None,
        }


def stats(store: Store, *, since: datetime | None = None) -> Stats:
    """Every dashboard number in one query, as the seed does.

    Running and queued counts are current; the finished tallies cover ``since`` onwards
    (everything when ``None``).
    """
    e = _EXEC_TABLE.c
    w = Workflow.__table__.c  # type: ignore[attr-defined]
    finished = sa.select(
        func.count().label("finished"),
        func.coalesce(func.sum(sa.case((e.status == "succeeded", 1), else_=0)), 0).label("ok"),
        func.coalesce(
            func.sum(sa.case((e.status.in_(("failed", "timed_out")), 1), else_=0)), 0
        ).label("failed"),
        func.coalesce(func.sum(sa.case((e.status == "cancelled", 1), else_=0)), 0).label(
            "cancelled"
        ),
        func.avg(e.duration_ms).label("avg"),
    ).where(e.status.in_(tuple(FINISHED)))
    if since is not None:
        finished = finished.where(e.started_at >= since)
    sub = finished.subquery()
    query = sa.select(
        sa.select(func.count()).select_from(Workflow.__table__).scalar_subquery(),  # type: ignore[attr-defined]
        sa.select(func.count()).where(w.is_active).scalar_subquery(),
        sa.select(func.count()).where(e.status == "running").scalar_subquery(),
        sa.select(func.count()).where(e.status == "queued").scalar_subquery(),
        sub.c.ok,
        sub.c.failed,
        sub.c.cancelled,
        sub.c.finished,
        sub.c.avg,
    )
    with translate_errors(store), store.engine.connect() as conn:
        row = conn.execute(query).one()
    return Stats(
        workflows=row[0],
        active_workflows=row[1],
        running=row[2],
        queued=row[3],
        succeeded=int(row[4]),
        failed=int(row[5]),
        cancelled=int(row[6]),
        finished=int(row[7]),
        average_duration_ms=float(row[8]) if row[8] is not None else None,
        since=since,
    )


def since_hours(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)


@dataclass(frozen=True)
class Health:
    url: str
    reachable: bool
    schema_version: int | None
    size_bytes: int | None
    free_disk_bytes: int | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "reachable": self.reachable,
            "schema_version": self.schema_version,
            "size_bytes": self.size_bytes,
            "free_disk_bytes": self.free_disk_bytes,
            "error": self.error,
        }


def health(store: Store) -> Health:
    url = _safe(store.url)
    try:
        with store.engine.connect() as conn:
            value = conn.execute(
                select(Meta.value).where(Meta.key == "schema_version")
            ).scalar_one_or_none()
            size: int | None = None
            if not store.is_sqlite and store.engine.dialect.name == "postgresql":
                size = conn.execute(
                    sa.text("SELECT pg_database_size(current_database())")
                ).scalar_one()
    except sa_exc.DBAPIError as exc:
        return Health(url, False, None, None, None, _reason(exc))
    path = store.path
    free = None
    if path is not None:
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
        free = shutil.disk_usage(path.parent).free
    return Health(url, True, int(value) if value else None, size, free)


def to_json(value: Any) -> str:
    return json.dumps(value, default=str)
