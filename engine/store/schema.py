"""The schema's version: created on a new store, checked on every open, upgraded in place.

``wfe_meta.schema_version`` says which version a store holds. A store written by an
older wfe is upgraded by the Alembic revisions in ``migrations/``, in the transaction
that checked it: whole, or not at all. One written by a newer wfe is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from engine.errors import SchemaError, StoreError
from engine.store import tables

if TYPE_CHECKING:
    from engine.store.connection import Store

VERSION = 10  # migrations/versions holds one revision per version


def check(store: Store, *, create: bool) -> None:
    """Create the tables of a new store, upgrade an older one, refuse anything else.

    A store already at this version is only read: opening it never waits for another
    process's write lock. Creating and upgrading take the lock, and look again under it.
    """
    from engine.store.connection import reason

    where = store.where
    try:
        with store.engine.connect() as conn:
            if _current(conn, where, create=create):
                return
        with store.writer.begin() as conn:
            store.dialect.lock_schema(conn)
            if _current(conn, where, create=create):
                return  # another process created or upgraded it meanwhile
            present = _tables(conn)
            if tables.META.name in present:
                version = _version(conn)
                assert version is not None and version < VERSION
                _upgrade(conn, where, version)
                _check_columns(conn, where)
            else:
                tables.METADATA.create_all(conn)
                conn.execute(tables.META.insert().values(key="schema_version", value=str(VERSION)))
    except SchemaError:
        raise
    except sa_exc.DBAPIError as exc:
        raise StoreError(f"cannot open the database {where}: {reason(exc)}") from exc


def _tables(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names()) - {"sqlite_sequence"}


def _current(conn: sa.Connection, where: str, *, create: bool) -> bool:
    """Whether the store is at this version (False: it must be created or upgraded).

    Raises:
        SchemaError: it is newer, foreign, or of this version with columns missing.
    """
    present = _tables(conn)
    if tables.META.name in present:
        version = _version(conn)
        if version is None:
            raise SchemaError(f"{where} has no schema version; it was not written by wfe")
        if version > VERSION:
            raise SchemaError(
                f"{where} was written by a newer WorkflowEngine (schema {version};"
                f" this one knows up to {VERSION}); upgrade wfe to use it"
            )
        if version < VERSION:
            return False
        _check_columns(conn, where)
        return True
    if present and not create:
        raise SchemaError(f"{where} holds tables that wfe did not write")
    if present:
        raise SchemaError(
            f"{where} holds other tables ({', '.join(sorted(present)[:3])}…);"
            " point --db at a new file or an empty database"
        )
    return False


def _version(conn: sa.Connection) -> int | None:
    m = tables.META.c
    value = conn.execute(sa.select(m.value).where(m.key == "schema_version")).scalar_one_or_none()
    return int(value) if value is not None and value.isdigit() else None


def version_of(conn: sa.Connection) -> int | None:
    """The schema version a store holds (for health)."""
    return _version(conn)


def _upgrade(conn: sa.Connection, where: str, version: int) -> None:
    """Migrate an older store to this schema, in the caller's transaction."""
    from engine.store import migrations
    from engine.store.connection import reason

    try:
        migrations.upgrade(conn, version, VERSION)
    except Exception as exc:  # the database's or Alembic's: either way nothing was changed
        why = reason(exc) if isinstance(exc, sa_exc.DBAPIError) else str(exc)
        raise SchemaError(
            f"{where} cannot be upgraded from schema {version} to {VERSION}"
            f" ({why}); it was left as it was"
        ) from exc
    m = tables.META.c
    conn.execute(tables.META.update().where(m.key == "schema_version").values(value=str(VERSION)))


def _check_columns(conn: sa.Connection, where: str) -> None:
    """A database of this schema version must have every column this wfe uses."""
    inspector = sa.inspect(conn)
    for table in tables.METADATA.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in present]
        if missing:
            raise SchemaError(
                f"{where} does not match this wfe's schema (table {table.name} lacks"
                f" {', '.join(missing)}); it was written by a development build — use a new file"
            )
