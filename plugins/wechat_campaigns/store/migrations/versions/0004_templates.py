"""Template management: which templates we added (short id, keywords), account facts, and lint reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lint", sa.JSON()))
    with op.batch_alter_table("templates") as batch:
        batch.add_column(sa.Column("short_id", sa.String(64)))
        batch.add_column(sa.Column("keywords", sa.JSON()))
    op.create_table(
        "account_state",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON()),
        sa.Column("updated_at", sa.Float()),
    )


def downgrade() -> None:
    op.drop_table("account_state")
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("keywords")
        batch.drop_column("short_id")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lint")
