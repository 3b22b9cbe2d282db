"""A mass job says whether it went to all followers, so that WeChat's limits on sends to all (one a Beijing
day, four a natural month) can be counted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mass_jobs") as table:
        table.add_column(sa.Column("to_all", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("mass_jobs") as table:
        table.drop_column("to_all")
