"""Schema migrations, run by Alembic.

Each schema version (``wfe_meta.schema_version``) is one revision here, named by its
number (``0002`` brings a version-1 store to version 2). :func:`engine.store.open_store`
upgrades an older store in the same transaction that checks it, so a store is either
upgraded whole or left as it was. A store created fresh is written at the newest
version directly; it meets Alembic (its ``alembic_version`` table) on its first upgrade.

A new revision: add ``versions/NNNN_what.py`` with ``down_revision`` the previous one,
and raise ``VERSION`` in ``engine/store/schema.py``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).parent


def revision(version: int) -> str:
    return f"{version:04d}"


def upgrade(conn: sa.Connection, current: int, target: int) -> None:
    """Bring the store on ``conn`` from schema ``current`` to ``target``, inside its transaction."""
    # Alembic costs a third of a second to import: only a store that needs it pays.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = conn
    if not sa.inspect(conn).has_table("alembic_version"):
        command.stamp(config, revision(current))
    command.upgrade(config, revision(target))
