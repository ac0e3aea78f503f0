"""Schema 1: the first release.

A version-1 store was created whole by ``SQLModel.metadata.create_all`` and is stamped
with this revision on its first upgrade; there is nothing to apply.

Revision ID: 0001
Revises:
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing: version-1 stores exist already when they meet Alembic."""


def downgrade() -> None:
    """Nothing: below schema 1 there is no store."""
