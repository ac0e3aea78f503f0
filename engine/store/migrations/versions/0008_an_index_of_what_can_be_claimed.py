"""Schema 8: an index of the executions a claim can take (queued, held by nobody), in
the order claims take them: a claim reads the oldest few, however many are queued and
however many ended before them, without sorting.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CLAIMABLE = sa.text("status = 'queued' AND worker IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_execution_claimable",
        "execution",
        ["id"],
        sqlite_where=CLAIMABLE,
        postgresql_where=CLAIMABLE,
    )


def downgrade() -> None:
    op.drop_index("ix_execution_claimable", table_name="execution")
