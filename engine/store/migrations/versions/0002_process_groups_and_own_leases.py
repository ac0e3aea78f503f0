"""Schema 2: where a shell step's process group runs; each runner's own lease.

``step_run.host`` and ``step_run.pid`` let whoever takes an execution over from a dead
runner end the processes that runner left behind. ``worker.expires_at`` is a runner's
heartbeat plus its own lease, so a taker with a shorter lease cannot take a live
runner's work.

Revision ID: 0002
Revises: 0001
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_LEASE = timedelta(seconds=15)  # what every version-1 runner held


def upgrade() -> None:
    with op.batch_alter_table("step_run") as batch:
        batch.add_column(sa.Column("host", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
    with op.batch_alter_table("worker") as batch:
        # With a time zone, as the model has it (timestamptz on PostgreSQL).
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    worker = sa.table(
        "worker",
        sa.column("id", sa.String()),
        sa.column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    beats: list[tuple[str, datetime]] = [
        (row.id, row.heartbeat_at)
        for row in bind.execute(sa.select(worker.c.id, worker.c.heartbeat_at))
    ]
    for worker_id, beat in beats:
        bind.execute(
            worker.update().where(worker.c.id == worker_id).values(expires_at=beat + OLD_LEASE)
        )
    with op.batch_alter_table("worker") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("worker") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("step_run") as batch:
        batch.drop_column("pid")
        batch.drop_column("host")
