"""Alembic's environment: migrations run on the connection ``engine.migrations`` passes."""

from alembic import context
from sqlmodel import SQLModel

import engine.store  # noqa: F401 - the tables, for comparing

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
