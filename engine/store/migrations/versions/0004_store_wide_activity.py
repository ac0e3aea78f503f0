"""Schema 4: the whole store's throughput, one row per runner and second.

``activity`` holds how many steps each runner finished in each second, added to by its
group commits, so the console can chart every runner's work and not only its own.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("runner", sa.String(length=100), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("second", "runner"),
    )


def downgrade() -> None:
    op.drop_table("activity")
