"""A handle on one database: opening it, its two engines, and error translation."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from engine.errors import StoreBusy, StoreError, StoreFull, StoreRefused, StoreUnavailable
from engine.store import dialects, schema
from engine.store.dialects import WRITE_OPTION, Dialect

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Store:
    """One database: the SQLAlchemy engine, and the dialect that knows its ways."""

    url: str
    engine: Engine
    dialect: Dialect
    identity: object = None  # what the database was when opened (see replaced())

    @property
    def path(self) -> Path | None:
        """The database's file, where it is one (SQLite)."""
        return self.dialect.database_file

    @property
    def where(self) -> str:
        """What to call the store in a message: its file, or its URL without a password."""
        return self.dialect.describe()

    @functools.cached_property
    def writer(self) -> Engine:
        """The engine for transactions that read and then write: one at a time.

        On SQLite they begin with ``BEGIN IMMEDIATE``; on PostgreSQL they take an
        advisory lock first (see the dialects).
        """
        return self.engine.execution_options(**{WRITE_OPTION: True})

    def replaced(self) -> bool:
        """Whether the database was deleted, or replaced by another, since it was opened."""
        return self.dialect.identity() != self.identity

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and create, and check the schema of) the database at ``url``.

    Raises:
        StoreError: the database cannot be reached, created or read.
        SchemaError: it was written by a newer schema, or not by wfe.
    """
    dialect = dialects.for_url(url)
    engine = dialect.create_engine()
    store = Store(
        url=dialect.url.render_as_string(hide_password=False),
        engine=engine,
        dialect=dialect,
        identity=dialect.identity(),
    )
    try:
        schema.check(store, create=create)
    except BaseException:
        engine.dispose()
        raise
    return store


def reason(exc: BaseException) -> str:
    """The first line of what the database said."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def kind(exc: BaseException) -> type[StoreError]:
    """Which StoreError a driver's error is, by PEP 249's classes (every driver has them).

    Busy: another holds the write lock, and it passes. Full: the disk is, and nobody
    writes until space is freed. Unavailable: the file or the server is gone; it may
    come back. Refused: what was written does not fit
    the database, and retrying will not change that.
    """
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc).lower()
    # SQLite's SQLITE_FULL; PostgreSQL's class 53 (insufficient resources), 53100 disk full
    if "disk is full" in text or "no space left" in text or "DiskFull" in names:
        return StoreFull
    if "OperationalError" in names or "InterfaceError" in names:
        if "locked" in text or "busy" in text or "lock" in type(exc).__name__.lower():
            return StoreBusy
        return StoreUnavailable
    if names & {"DataError", "IntegrityError", "NotSupportedError"}:
        return StoreRefused
    if "ProgrammingError" in names and "closed" not in text:
        return StoreRefused
    return StoreUnavailable


@contextmanager
def translate_errors(store: Store) -> Iterator[None]:
    """Turn the driver's errors into one-line :class:`StoreError`\\ s of their kind."""
    caught: tuple[type[BaseException], ...] = (sa_exc.DBAPIError, *store.dialect.driver_errors)
    try:
        yield
    except caught as exc:
        raise kind(exc)(f"database error on {store.where}: {reason(exc)}") from exc
