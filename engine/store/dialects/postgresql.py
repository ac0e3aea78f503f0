"""PostgreSQL through psycopg 3: many runners on many machines share one database."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
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
    once_each,
    safe_url,
)

# Advisory lock keys: one for writing transactions, one for schema upgrades.
WRITE_LOCK = 7265101
UPGRADE_LOCK = 7265100


class PostgreSQL(Dialect):
    name = "postgresql"
    mark = "%s"
    typed_rows = True  # psycopg parses JSON; times come in the session's zone, UTC

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
                            " started_at = %s WHERE id = ANY(ARRAY(SELECT id FROM execution"
                            " WHERE status = 'queued' AND worker IS NULL ORDER BY id"
                            " LIMIT %s FOR UPDATE SKIP LOCKED)) RETURNING id",
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

    def queue(
        self, engine: Engine, table: sa.Table, rows: Sequence[dict[str, Any]], wake: bool
    ) -> list[dict[str, Any]] | None:
        # One round trip where a transaction of its own would take six (BEGIN, the lock,
        # the insert, the workflow's row, NOTIFY, COMMIT): queueing is what a waiting
        # user and a runner's first step both wait for.
        from psycopg.rows import dict_row

        if not rows:
            return []
        columns = tuple(rows[0])
        arrays = [
            [json.dumps(row[c]) for row in rows]
            if isinstance(table.c[c].type, sa.JSON)
            else [row[c] for row in rows]
            for c in columns
        ]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            raw: Any = conn.connection.dbapi_connection
            with raw.cursor(row_factory=dict_row) as cursor:
                cursor.execute(
                    _queue_sql(table, columns), [WRITE_LOCK, *arrays, rows[0]["workflow_id"], wake]
                )
                made: list[dict[str, Any]] = cursor.fetchall()
                return made

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

    def fence(self, cursor: Any, ids: Sequence[int]) -> None:
        # One text for any number of executions (an array): prepared once, planned once.
        cursor.execute(
            "SELECT id, worker FROM execution WHERE id = ANY(%s)" + self.fence_lock, (list(ids),)
        )

    # psycopg's pipeline mode: a batch's statements go out together and their answers
    # come back together, one round trip instead of one each.
    pipelines = True

    @contextmanager
    def pipelined(self, conn: sa.Connection) -> Iterator[None]:
        with conn.connection.dbapi_connection.pipeline():  # type: ignore[union-attr]
            yield

    def times(self) -> Callable[[datetime | None], Any]:
        """ISO text, once per datetime object of a batch (JSON has no times; the
        server reads the text as the column's type)."""
        return once_each(_iso)

    def insert_rows(
        self, cursor: Any, table: sa.Table, columns: tuple[str, ...], flat: list[Any]
    ) -> None:
        """One ``INSERT … SELECT FROM json_to_recordset(rows)``: the rows as one JSON text.

        Its text is the same for any number of rows (psycopg prepares it, the server
        plans it once), unlike COPY it can go in a pipeline with the rest of a batch,
        and the rows are one parameter that the standard library's JSON encoder makes
        (psycopg's arrays are dumped value by value in Python: half a batch's time).
        """
        width = len(columns)
        rows = [
            dict(zip(columns, flat[i : i + width], strict=True)) for i in range(0, len(flat), width)
        ]
        cursor.execute(_insert_json(table, columns), (_rows_text(rows),))

    def update_rows(
        self,
        cursor: Any,
        table: sa.Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        held_by: str | None = None,
    ) -> None:
        # One statement for them all (a join on the new values' rows), whose text does
        # not depend on how many: executemany would be one statement per row.
        keys = (*columns, "id")
        values = [dict(zip(keys, row, strict=True)) for row in rows]
        ids = [row[-1] for row in rows]
        if held_by is None:
            cursor.execute(_update_json(table, columns, False), (_rows_text(values), ids))
        else:
            sql = _update_json(table, columns, True)
            cursor.execute(sql, (_rows_text(values), ids, held_by))

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


def _array_types(table: sa.Table, columns: Sequence[str]) -> list[str]:
    from sqlalchemy.dialects import postgresql

    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    # Text without its length: an explicit cast to varchar(200) cuts a longer value
    # short without a word, where the column's own (assignment) cast refuses it.
    return [
        "VARCHAR[]"
        if isinstance(getattr(table.c[c].type, "impl", table.c[c].type), sa.String)
        else f"{table.c[c].type.compile(dialect=pg)}[]"
        for c in columns
    ]


@functools.cache
def _queue_sql(table: sa.Table, columns: tuple[str, ...]) -> str:
    """The executions inserted from one array per column once the write lock is held
    (taken as the rows are made, before any is inserted: ``remove_workflow``, which
    holds it, then never misses one), their workflow's last execution set, NOTIFY sent
    at the commit if asked: one statement, numbered rows back in order."""
    from engine.store import wakeups

    arrays = ", ".join(f"%s::{t}" for t in _array_types(table, columns))
    names = ", ".join(columns)
    values = ", ".join(f"v.{c}" for c in columns)
    return (
        "WITH locked AS (SELECT pg_advisory_xact_lock(%s)),"
        f" made AS (INSERT INTO {table.name} ({names}) SELECT {values} FROM locked,"
        f" unnest({arrays}) WITH ORDINALITY AS v ({names}, n) ORDER BY v.n RETURNING *),"
        " last AS (UPDATE workflow SET last_execution_id = (SELECT max(id) FROM made)"
        f" WHERE id = %s RETURNING CASE WHEN %s THEN pg_notify('{wakeups.CHANNEL}', '') END)"
        " SELECT * FROM made ORDER BY id"
    )


def _rows_text(rows: list[dict[str, Any]]) -> str:
    """Rows as JSON text for ``json_to_recordset``, times as ISO text.

    Characters as they are, not as ``\\u`` escapes (shorter, and converted to the
    database's encoding as any text is; text with half a surrogate pair, which no
    encoding holds, goes escaped, for the server to refuse with its reason). A value
    JSON has no form for (NaN, infinity) is refused here, as the database refuses one.
    """
    try:
        text = json.dumps(rows, ensure_ascii=False, allow_nan=False, default=_json_time)
    except (ValueError, TypeError) as exc:
        import psycopg

        raise psycopg.DataError(f"a value the store cannot hold: {exc}") from exc
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(rows, allow_nan=False, default=_json_time)
    return text


def _json_time(value: Any) -> str:
    if isinstance(value, datetime):
        return _iso(value)
    raise TypeError(f"{type(value).__name__} is not a value a row holds")


def _iso(value: datetime) -> str:
    # With its offset where it has one; a naive time is the session's zone, UTC.
    return value.isoformat()


def _recordset(table: sa.Table, columns: Sequence[str], alias: str) -> tuple[str, list[str]]:
    """``json_to_recordset``'s column list for ``columns``, and each one's value read
    from ``alias`` as its column takes it (JSON columns come as their JSON text)."""
    types = [
        "text" if isinstance(table.c[c].type, sa.JSON) else t.removesuffix("[]")
        for c, t in zip(columns, _array_types(table, columns), strict=True)
    ]
    listed = ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
    values = [
        f"{alias}.{c}::json" if isinstance(table.c[c].type, sa.JSON) else f"{alias}.{c}"
        for c in columns
    ]
    return f"json_to_recordset(%s::json) AS {alias} ({listed})", values


@functools.cache
def _insert_json(table: sa.Table, columns: tuple[str, ...]) -> str:
    rows, values = _recordset(table, columns, "r")
    return f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {rows}"


@functools.cache
def _update_json(table: sa.Table, columns: tuple[str, ...], held: bool) -> str:
    """``UPDATE table SET columns FROM json_to_recordset(…)``: the new values by id
    (``held``: where a given runner, or nobody, holds the row).

    The ids come again as an array: the planner takes a set-returning function for a
    hundred rows, and for so many would read the whole table rather than its index.
    """
    rows, values = _recordset(table, (*columns, "id"), "v")
    sets = ", ".join(f"{c} = {v}" for c, v in zip(columns, values, strict=False))
    where = " AND (t.worker = %s OR t.worker IS NULL)" if held else ""
    return (
        f"UPDATE {table.name} AS t SET {sets} FROM {rows}"
        f" WHERE t.id = ANY(%s::INTEGER[]) AND t.id = v.id{where}"
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
