"""Schema 7: an operator's marks on steps (``wfe step ID STEP --mark succeeded|failed``),
with who and why, kept until the runner of the execution has carried them out; and a
child execution's parent (the execution and the ``workflow:`` step that started it).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("marked_by", sa.String(length=200), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["execution.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_step_mark_open", "step_mark", ["execution_id", "applied"])
    with op.batch_alter_table("execution") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("parent_step", sa.String(length=200), nullable=True))
    op.create_index("ix_execution_parent", "execution", ["parent_id", "parent_step"])


def downgrade() -> None:
    op.drop_index("ix_execution_parent", table_name="execution")
    with op.batch_alter_table("execution") as batch:
        batch.drop_column("parent_step")
        batch.drop_column("parent_id")
    op.drop_index("ix_step_mark_open", table_name="step_mark")
    op.drop_table("step_mark")
