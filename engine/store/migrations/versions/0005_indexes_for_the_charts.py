"""Schema 5: the console's charts read indexes, not the executions table.

The dashboard's charts count, per minute of the last hour (or 20 minutes of the last
day), executions queued, started and finished, and each workflow's strip reads its
last runs: ``queued_at``, ``(finished_at, status, started_at)`` and
``(workflow_id, id, status, duration_ms)`` answer those from the index alone.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_execution_queued_at", "execution", ["queued_at"])
    op.create_index(
        "ix_execution_finished_status", "execution", ["finished_at", "status", "started_at"]
    )
    op.create_index(
        "ix_execution_workflow_runs", "execution", ["workflow_id", "id", "status", "duration_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_execution_workflow_runs", table_name="execution")
    op.drop_index("ix_execution_finished_status", table_name="execution")
    op.drop_index("ix_execution_queued_at", table_name="execution")
