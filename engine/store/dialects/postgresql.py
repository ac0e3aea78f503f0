"""PostgreSQL through psycopg 3: many runners on many machines share one database."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from engine.errors import StoreError
from engine.store.dialects import (
    BUSY_WAIT,
    IDLE,
    WRITE_OPTION,
    Dialect,
    WakeListener,
    safe_url,
)

# Advisory lock keys: one for writing transactions, one for schema upgrades.
WRITE_LOCK = 7265101
UPGRADE_LOCK = 7265100


class PostgreSQL(Dialect):
    name = "postgresql"
    mark = "%s"

    def __init__(self, url: sa.URL) -> None:
        # psycopg 3 (the `postgres` extra), whatever SQLAlchemy's default driver is.
        super().__init__(url.set(drivername="postgresql+psycopg"))
        try:
            import psycopg
        except ImportError:
            pass  # create_engine says what to install
        else:
            # The write path speaks to psycopg directly (COPY): its errors come unwrapped.
            self.driver_errors = (psycopg.Error,)

    # A batch locks the rows of its executions instead of taking the write lock: batches
    # of different workers go at once, and a take-over (which updates those rows) waits
    # for the batch to commit, or the batch for it, and then sees who holds them.
    fence_lock = " ORDER BY id FOR SHARE"

    def group_commit(self, engine: Engine) -> AbstractContextManager[sa.Connection]:
        return engine.begin()

    def queue_floor(self, batch: int, ready: Callable[[], object]) -> None:
        from datetime import UTC, datetime

        import psycopg

        url = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        me = f"floor:{os.getpid()}"
        with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
            ready()
            while True:
                with conn.transaction():
                    ids = [
                        row[0]
                        for row in conn.execute(
                            "UPDATE execution SET worker = %s, status = 'running',"
                            " started_at = %s WHERE id IN (SELECT id FROM execution"
                            " WHERE status = 'queued' AND worker IS NULL ORDER BY id"
                            " LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                            (me, datetime.now(UTC).replace(tzinfo=None), batch),
                        )
                    ]
                if not ids:
                    time.sleep(IDLE)  # a queue polled, as a plain job queue's worker does
                    continue
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(
                        "UPDATE execution SET status = 'succeeded', finished_at = %s WHERE id = %s",
                        [(datetime.now(UTC).replace(tzinfo=None), i) for i in ids],
                    )

    def wake_in(self, conn: sa.Connection) -> bool:
        from engine.store import wakeups

        conn.exec_driver_sql(f"NOTIFY {wakeups.CHANNEL}")  # delivered at the commit
        return True

    def wake_runners(self, engine: Engine) -> int:
        from engine.store import wakeups

        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"NOTIFY {wakeups.CHANNEL}")
                conn.commit()
        except Exception:  # the server is away: the runners' polls find the work later
            return 0
        return 1

    def wake_listener(self) -> WakeListener:
        from engine.store import wakeups

        return wakeups.PgListener(self.url.set(drivername="postgresql"))

    def create_engine(self) -> Engine:
        try:
            engine = sa.create_engine(
                self.url,
                # Pinged on checkout only after an idle spell (see _ping_if_idle): a
                # ping per checkout is a round trip per claim and per group commit.
                pool_size=8,
                max_overflow=8,
                # Times are stored as UTC without a zone, as on SQLite: the session's
                # zone must not shift them, whatever the server's default is.
                # A lock another session holds is waited for as long as on SQLite.
                connect_args={
                    "options": f"-c timezone=UTC -c lock_timeout={int(BUSY_WAIT * 1000)}"
                },
            )
        except ImportError as exc:
            raise StoreError(
                f"cannot use {safe_url(self.url)}: PostgreSQL needs the psycopg driver;"
                " install it with: pip install 'workflow-engine[postgres]'"
            ) from exc
        except sa_exc.ArgumentError as exc:
            raise StoreError(f"cannot use {safe_url(self.url)}: {exc}") from exc
        event.listen(engine, "begin", _on_begin)
        event.listen(engine.pool, "checkout", _ping_if_idle)
        event.listen(engine.pool, "checkin", _note_use)
        return engine

    def holders(self, engine: Engine) -> list[str]:
        """The sessions holding wfe's write lock (an advisory lock) on the server."""
        query = sa.text(
            "SELECT a.pid, a.application_name, a.client_addr, a.state FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :key"
        )
        try:
            with engine.connect() as conn:
                rows = conn.execute(query, {"key": WRITE_LOCK}).all()
        except sa_exc.DBAPIError:
            return []
        return [
            f"server pid {r.pid} ({r.application_name or '?'},"
            f" from {r.client_addr or 'this host'}, {r.state})"
            for r in rows
        ]

    def lock_schema(self, conn: sa.Connection) -> None:
        # Two processes opening an older store at once: one upgrades, the other waits
        # and finds it done. (On SQLite, BEGIN IMMEDIATE is that lock.)
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})"))

    @contextmanager
    def claiming(self, engine: Engine) -> Iterator[sa.Connection | None]:
        # Rows are locked as they are read (FOR UPDATE SKIP LOCKED): a runner skips
        # what another is claiming instead of waiting for it, and claims take no
        # advisory lock.
        with engine.begin() as conn:
            yield conn

    def insert_rows(
        self, cursor: Any, table: str, columns: tuple[str, ...], flat: list[Any]
    ) -> None:
        """COPY, PostgreSQL's bulk path (psycopg takes datetimes and JSON text as they are)."""
        width = len(columns)
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(0, len(flat), width):
                copy.write_row(flat[i : i + width])

    def update_rows(
        self, cursor: Any, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        # One statement for them all (a join on VALUES): executemany would be one
        # statement per row for the server to plan and run.
        if len(rows) == 1:
            return super().update_rows(cursor, table, columns, rows)
        sql = _update_from_values(table, columns, len(rows))
        cursor.execute(sql, [value for row in rows for value in row])

    def database_size(self, conn: sa.Connection) -> int | None:
        size: int = conn.execute(
            sa.text("SELECT pg_database_size(current_database())")
        ).scalar_one()
        return size

    def bulk_insert(
        self, engine: Engine, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()

    def after_bulk_insert(self, engine: Engine, tables: Sequence[str]) -> None:
        with engine.begin() as conn:
            for table in tables:
                # Ids were given: the next row the engine adds must come after them.
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


# Seconds a pooled connection may sit unused before it is pinged when next taken: one
# the server dropped meanwhile (a restart, an idle timeout) is replaced before use. One
# in steady use is not pinged; if the server goes while it is, that use fails once and
# is retried (the recorder and the claims retry; the pool then replaces its connections).
IDLE_PING = 1.0


@functools.lru_cache(maxsize=64)
def _update_from_values(table: sa.Table, columns: tuple[str, ...], rows: int) -> str:
    """``UPDATE table SET columns FROM (VALUES …)`` for ``rows`` rows of the columns and
    then the id; the first row's values are cast to the columns' types."""
    from sqlalchemy.dialects import postgresql

    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    types = [table.c[c].type.compile(dialect=pg) for c in (*columns, "id")]
    first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    rest = ", (" + ", ".join(["%s"] * len(types)) + ")"
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    return (
        f"UPDATE {table.name} AS t SET {sets} FROM (VALUES {first}{rest * (rows - 1)})"
        f" AS v ({', '.join((*columns, 'id'))}) WHERE t.id = v.id"
    )


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get("wfe_used", 0.0) < IDLE_PING:
        return
    try:
        dbapi_connection.execute("SELECT 1")
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()
    except Exception as exc:  # the pool drops it and connects afresh
        raise sa_exc.DisconnectionError(str(exc)) from exc


def _note_use(_dbapi_connection: Any, record: Any) -> None:
    record.info["wfe_used"] = time.monotonic()


def _on_begin(conn: sa.Connection) -> None:
    # What BEGIN IMMEDIATE is on SQLite: a transaction that reads and then writes (a
    # lease, a take-over, a fence) goes one at a time, so two processes never both act
    # on what they read. Claims skip this: they lock rows (FOR UPDATE SKIP LOCKED).
    if conn.get_execution_options().get(WRITE_OPTION, False):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
