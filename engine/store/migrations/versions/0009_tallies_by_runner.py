"""Schema 9: each runner's ends of a workflow's executions in a row of its own.

``tally`` holds what a runner's group commits added to a workflow's runs and successes
since that runner's rows were last folded into the workflow's: two workers ending the
same workflow's executions no longer wait, at each commit, for the other's lock on
the workflow's row.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tally",
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("runner", sa.String(length=100), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "runner"),
    )


def downgrade() -> None:
    op.drop_table("tally")
