"""SQLite: a file in WAL mode with the seed's pragmas, one writer at a time."""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from engine.errors import StoreError
from engine.store.dialects import BUSY_WAIT, IDLE, WRITE_OPTION, Dialect, WakeListener, once_each

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-20000",  # 20 MB
    "PRAGMA mmap_size=268435456",  # 256 MB
    f"PRAGMA busy_timeout={int(BUSY_WAIT * 1000)}",
    "PRAGMA foreign_keys=ON",
)


class SQLite(Dialect):
    name = "sqlite"
    mark = "?"
    reuses_ids = True
    driver_errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, url: sa.URL) -> None:
        super().__init__(url.set(drivername="sqlite"))  # the standard library's sqlite3

    @property
    def database_file(self) -> Path | None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    def queue_floor(self, batch: int, ready: Callable[[], object]) -> None:
        path = self.database_file
        if path is None:
            raise StoreError("the queue floor needs a database file")
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        ready()
        me = f"floor:{os.getpid()}"
        try:
            while True:
                now = _text(datetime.now(UTC))
                conn.execute("BEGIN IMMEDIATE")
                ids = [
                    row[0]
                    for row in conn.execute(
                        "UPDATE execution SET worker = ?, status = 'running', started_at = ?"
                        " WHERE id IN (SELECT id FROM execution WHERE status = 'queued'"
                        " AND worker IS NULL ORDER BY id LIMIT ?) RETURNING id",
                        (me, now, batch),
                    )
                ]
                conn.execute("COMMIT")
                if not ids:
                    time.sleep(IDLE)  # a queue polled, as a plain job queue's worker does
                    continue
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "UPDATE execution SET status = 'succeeded', finished_at = ? WHERE id = ?",
                    [(_text(datetime.now(UTC)), i) for i in ids],
                )
                conn.execute("COMMIT")
        finally:
            conn.close()

    def wake_runners(self, engine: Engine) -> int:
        from engine.store import wakeups

        path = self.database_file
        return 0 if path is None else wakeups.notify_folder(wakeups.folder_of(path))

    def wake_listener(self) -> WakeListener | None:
        from engine.store import wakeups

        path = self.database_file
        return None if path is None else wakeups.Listener(wakeups.folder_of(path))

    def create_engine(self) -> Engine:
        self._prepare_file()
        engine = sa.create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": BUSY_WAIT},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        return engine

    def _prepare_file(self) -> None:
        path = self.database_file
        if path is None:
            return
        existed = path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created by us with mode 0600 before SQLite opens it; SQLite gives the -wal
            # and -shm files the same mode.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as exc:
            if not existed:
                raise StoreError(f"cannot create the database {path}: {exc.strerror}") from exc
            why = exc.strerror or str(exc)
            if exc.errno == errno.EACCES:
                why += " (the file is not writable by you)"
            raise StoreError(f"cannot write to the database {path}: {why}") from exc

    def identity(self) -> object:
        # Its file: an open SQLite connection goes on writing to a file deleted or
        # replaced under it, so only the file's device and inode tell.
        path = self.database_file
        if path is None:
            return super().identity()
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def holders(self, engine: Engine) -> list[str]:
        """The other processes that have the file open (any of them may hold the lock)."""
        path = self.database_file
        if path is None:
            return []
        wanted = {str(path), f"{path}-wal", f"{path}-shm"}
        found = []
        try:
            pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
        except OSError:
            return []
        for pid in pids:
            try:
                links = {
                    os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
                }
                if links & wanted:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                    command = " ".join(argv.replace("\0", " ").split())  # one line
                    found.append(f"pid {pid} ({command[:60]})")
            except OSError:
                continue  # gone meanwhile, or not ours to look at
        return found

    def describe(self) -> str:
        return str(self.database_file or super().describe())

    @contextmanager
    def claiming(self, engine: Engine) -> Iterator[sa.Connection | None]:
        # A plain read first: an idle runner polls, and must not take the write lock
        # each time to find nothing. Then BEGIN IMMEDIATE takes the write lock before
        # reading, so two runners never claim the same execution.
        with engine.connect() as conn:
            waiting = conn.exec_driver_sql(
                "SELECT 1 FROM execution WHERE status = 'queued' AND worker IS NULL LIMIT 1"
            ).first()
        if waiting is None:
            yield None
            return
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
            yield conn

    def times(self) -> Callable[[datetime | None], Any]:
        """:func:`_text`, once per datetime object of a batch."""
        return once_each(_text)

    def insert_rows(
        self, cursor: Any, table: sa.Table, columns: tuple[str, ...], flat: list[Any]
    ) -> None:
        """Multi-row VALUES statements.

        ``executemany`` steps SQLite once per row and hands the GIL back and forth each
        time, which starves the trio thread; one statement per chunk steps once. Chunks
        are powers of two (at most 256 rows) to keep the distinct statements few.
        """
        width = len(columns)
        rows = len(flat) // width
        i = 0
        while i < rows:
            size = min(256, 1 << ((rows - i).bit_length() - 1))
            cursor.execute(
                _insert_sql(table.name, columns, size), flat[i * width : (i + size) * width]
            )
            i += size

    def database_size(self, conn: sa.Connection) -> int | None:
        path = self.database_file
        if path is None:
            return None
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())

    def bulk_insert(
        self, engine: Engine, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        path = self.database_file
        assert path is not None, "bulk inserts need a database file"
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=OFF")
            marks = ", ".join("?" * len(columns))
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def after_bulk_insert(self, engine: Engine, tables: Sequence[str]) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # pysqlite's own transaction handling fights BEGIN IMMEDIATE; SQLAlchemy's recipe.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _on_begin(conn: sa.Connection) -> None:
    # A transaction that reads and then writes would otherwise fail at once with
    # "database is locked" when another process wrote in between, instead of waiting.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    one = f"({', '.join(['?'] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)}"


def _text(value: datetime | None) -> str | None:
    # The text SQLAlchemy's SQLite DATETIME writes and reads back, in UTC.
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")
