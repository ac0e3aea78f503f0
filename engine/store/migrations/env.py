"""Alembic's environment: migrations run on the connection ``engine.store.migrations`` passes."""

from alembic import context

from engine.store import tables

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=tables.METADATA,
    # Alterations go through batch operations, which SQLite needs (it alters a table by
    # copying it) and other databases run as plain ALTERs.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
