"""What differs between databases, behind one small interface.

One module per database (:mod:`.sqlite`, :mod:`.postgresql`), as procrastinate's
connectors are: nothing outside this package asks which database it is on (a test
checks), it asks the store's :class:`Dialect` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url

from engine.errors import StoreError

logger = logging.getLogger(__name__)

# A transaction begun on ``store.writer`` carries this execution option; each dialect's
# "begin" listener makes it go one at a time (BEGIN IMMEDIATE, an advisory lock).
WRITE_OPTION = "wfe_write"
# Seconds a transaction waits for another process's write lock before it is refused.
BUSY_WAIT = 10.0
# Seconds between the queue floor's looks at an empty queue.
IDLE = 0.002


class WakeListener(Protocol):
    """A runner's end of the wake-ups: readable (``fileno``) when work was queued."""

    def fileno(self) -> int: ...
    def drain(self) -> None: ...
    def close(self) -> None: ...


class Dialect:
    """One database's ways: connecting, the write lock, claims and the fast write path."""

    name: ClassVar[str]
    #: The DBAPI driver's parameter placeholder, for the driver-level write path.
    mark: ClassVar[str]
    #: The driver's own errors, raised where the store speaks to the driver directly.
    driver_errors: tuple[type[Exception], ...] = ()
    #: Whether a new row may take the id of a deleted one (SQLite's max(rowid) + 1);
    #: a sequence never gives an id twice.
    reuses_ids: ClassVar[bool] = False
    #: Whether the driver's rows hold what the records do (JSON parsed, aware UTC
    #: times): a hot read may take them as they come, past SQLAlchemy's result layer.
    typed_rows: ClassVar[bool] = False

    def __init__(self, url: sa.URL) -> None:
        self.url = url

    def create_engine(self) -> Engine:
        """The SQLAlchemy engine, with this database's settings on every connection."""
        raise NotImplementedError

    @property
    def database_file(self) -> Path | None:
        """The file the database lives in, where it is one."""
        return None

    def identity(self) -> object:
        """What the database is, to tell when it is deleted or replaced (None: gone)."""
        return self.url.render_as_string(hide_password=True)

    def holders(self, engine: Engine) -> list[str]:
        """Who may hold the store's write lock now (for the message of a long wait)."""
        return []

    def lock_schema(self, conn: sa.Connection) -> None:
        """Hold off other processes while this one checks or upgrades the schema."""

    def claiming(self, engine: Engine) -> AbstractContextManager[sa.Connection | None]:
        """A transaction in which a claim's rows are safe from other claimers (a write
        lock, or rows locked as they are read), or None: nothing is queued (found
        without taking a lock)."""
        raise NotImplementedError

    def group_commit(self, engine: Engine) -> AbstractContextManager[sa.Connection]:
        """The transaction of one of the executor's batches. Its fence reads who holds
        the batch's executions, locking them (``fence_lock``) where the transaction
        does not hold the whole store's write lock."""
        return engine.execution_options(**{WRITE_OPTION: True}).begin()

    #: What the fence's read adds to lock the rows it reads until the batch commits.
    fence_lock: ClassVar[str] = ""

    def fence(self, cursor: Any, ids: Sequence[int]) -> None:
        """Send the fence's read of who holds the executions ``ids`` (``fence_lock``
        added); its rows are (id, worker)."""
        marks = ", ".join([self.mark] * len(ids))
        cursor.execute(
            f"SELECT id, worker FROM execution WHERE id IN ({marks})" + self.fence_lock,
            tuple(ids),
        )

    #: Whether the driver can send a batch's statements without waiting for each
    #: one's answer (:meth:`pipelined`).
    pipelines: ClassVar[bool] = False

    def pipelined(self, conn: sa.Connection) -> AbstractContextManager[None]:
        """A block in which the driver sends statements without waiting for each one's
        answer, their results there once it ends (where :attr:`pipelines`)."""
        raise NotImplementedError

    def queue_floor(self, batch: int, ready: Callable[[], object]) -> None:
        """The bench's queue floor, until killed: claim ``batch`` queued executions,
        record them running, run nothing, record them succeeded, the most direct way
        on the driver, committing as a runner does; poll every IDLE seconds when the
        queue is empty. ``ready`` is called once connected."""
        raise NotImplementedError

    def queue(
        self, engine: Engine, table: sa.Table, rows: Sequence[dict[str, Any]], wake: bool
    ) -> list[dict[str, Any]] | None:
        """Queue executions (``rows``: their columns, all of one workflow) in one
        statement that is its own transaction: inserted, numbered, their workflow's last
        execution set, the idle runners woken at its commit (``wake``), the store's
        write lock held meanwhile. Each row as stored, in order; None where the dialect
        cannot (the caller's transaction does it, a statement at a time)."""
        return None

    def wake_in(self, conn: sa.Connection) -> bool:
        """Tell the idle runners from inside the transaction that queues work, at its
        commit (no round trip of its own); False where that cannot be: then
        :meth:`wake_runners` after the commit."""
        return False

    def wake_runners(self, engine: Engine) -> int:
        """After a commit that queued work: tell the idle runners (how many were told).
        Never raises: a lost wake-up costs a runner its safety poll. None by default."""
        return 0

    def wake_listener(self) -> WakeListener | None:
        """What a runner waits on to be told, or None: it polls. OSError, or the
        driver's error, when one cannot be made."""
        return None

    def times(self) -> Callable[[datetime | None], Any]:
        """How the write path hands the driver a datetime (made once per batch)."""
        return _as_is

    def insert_rows(
        self, cursor: Any, table: sa.Table, columns: tuple[str, ...], flat: list[Any]
    ) -> None:
        """Insert rows given as one flat list of values, the fastest way the driver has."""
        raise NotImplementedError

    def update_rows(
        self,
        cursor: Any,
        table: sa.Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        held_by: str | None = None,
    ) -> None:
        """Set ``columns`` of rows by id: each row is its values, then its id.
        ``held_by``: only where that runner, or nobody, holds the row (``worker``); the
        cursor's rowcount then says how many were."""
        sets = ", ".join(f"{c} = {self.mark}" for c in columns)
        sql = f"UPDATE {table.name} SET {sets} WHERE id = {self.mark}"
        if held_by is not None:
            sql += f" AND (worker = {self.mark} OR worker IS NULL)"
            rows = [(*row, held_by) for row in rows]
        cursor.executemany(sql, rows)

    def database_size(self, conn: sa.Connection) -> int | None:
        """The bytes the database takes."""
        return None

    def bulk_insert(
        self, engine: Engine, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Load many rows past the engine (the bench's fill), in one transaction."""
        raise NotImplementedError

    def after_bulk_insert(self, engine: Engine, tables: Sequence[str]) -> None:
        """Bring statistics (and id sequences) up to date after :meth:`bulk_insert`."""

    def describe(self) -> str:
        """The URL with its password hidden, for messages."""
        return safe_url(self.url)


def _as_is(value: datetime | None) -> Any:
    return value


def once_each(convert: Callable[[datetime], Any]) -> Callable[[datetime | None], Any]:
    """``convert`` for one batch, once per datetime object (None stays None).

    A step's start, end and log line often share one timestamp object (an instant step
    takes one); the batch holds them all alive, so their ids are stable keys meanwhile.
    """
    seen: dict[int, Any] = {}

    def converted(value: datetime | None) -> Any:
        if value is None:
            return None
        key = id(value)
        found = seen.get(key)
        if found is None:
            found = seen[key] = convert(value)
        return found

    return converted


def safe_url(url: str | sa.URL) -> str:
    """A URL with its password hidden."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except sa_exc.ArgumentError:
        return str(url)
    return parsed.render_as_string(hide_password=True)


def for_url(url: str) -> Dialect:
    """The dialect of the database at ``url``.

    Raises:
        StoreError: it is not a URL, or names a database wfe does not speak.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StoreError(
            f"{url!r} is not a database URL; write e.g. sqlite:///path/to/file.db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        from engine.store.dialects import sqlite

        return sqlite.SQLite(parsed)
    if backend in ("postgresql", "postgres"):
        from engine.store.dialects import postgresql

        return postgresql.PostgreSQL(parsed)
    raise StoreError(
        f"cannot use {safe_url(parsed)}: unknown database {backend!r};"
        " use sqlite:///PATH or postgresql://HOST/NAME"
    )
