"""Schema 10: a workflow's ``concurrency:`` in a column of its own, and an index of what
runners hold.

A claim leaves out the queued executions of a limited workflow that another runner
holds executions of (its limit holds across runners: they go to one runner at a time),
so that they do not stand at the head of the queue before everything else. The value
is the definition's: the stored definitions are read once here to fill it in. Which
workflows are held is read from ``ix_execution_held``: the active executions that a
runner holds, a few rows however long the queue (without it, every claim read every
queued row).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import yaml
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


HELD = sa.text("worker IS NOT NULL AND status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_index(
        "ix_execution_held",
        "execution",
        ["worker", "workflow_id"],
        sqlite_where=HELD,
        postgresql_where=HELD,
    )
    op.add_column("workflow", sa.Column("concurrency", sa.Integer(), nullable=True))
    workflow = sa.table(
        "workflow",
        sa.column("id", sa.Integer()),
        sa.column("definition", sa.String()),
        sa.column("concurrency", sa.Integer()),
    )
    conn = op.get_bind()
    limits = {}
    for row in conn.execute(sa.select(workflow.c.id, workflow.c.definition)):
        limit = _limit(row.definition)
        if limit is not None:
            limits[row.id] = limit
    for workflow_id, limit in limits.items():
        conn.execute(
            workflow.update().where(workflow.c.id == workflow_id).values(concurrency=limit)
        )


def _limit(text: str) -> int | None:
    """The ``concurrency:`` of a stored definition (it was checked when it was added)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # the runner says why when it comes to run it
    limit = document.get("concurrency") if isinstance(document, dict) else None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def downgrade() -> None:
    op.drop_column("workflow", "concurrency")
    op.drop_index("ix_execution_held", table_name="execution")
