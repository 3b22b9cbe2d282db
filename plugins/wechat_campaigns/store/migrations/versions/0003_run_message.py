"""Keep the message a run sends (with its uploaded media ids) on the run's history row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("message", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("message")
