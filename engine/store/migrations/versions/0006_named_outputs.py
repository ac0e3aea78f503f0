"""Schema 6: a step's named outputs (``key=value`` lines a shell step writes to
``$WFE_OUTPUT``), kept beside its output so a later step, or a runner taking the
execution over, reads them.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("step_run", sa.Column("outputs", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("step_run", "outputs")
