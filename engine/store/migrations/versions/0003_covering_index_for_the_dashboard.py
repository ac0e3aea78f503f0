"""Schema 3: the dashboard's 24-hour tallies read an index, not the executions table.

``ix_execution_started_at`` becomes ``(started_at, status, duration_ms)``: still led by
the start time, and covering what the stats query counts and averages.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_execution_started_status_duration",
        "execution",
        ["started_at", "status", "duration_ms"],
    )
    op.drop_index("ix_execution_started_at", table_name="execution")


def downgrade() -> None:
    op.create_index("ix_execution_started_at", "execution", ["started_at"])
    op.drop_index("ix_execution_started_status_duration", table_name="execution")
