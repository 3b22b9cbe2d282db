"""Job-finish reports keep their MsgID and Status in columns, so a send that writes its msg_ids after the
report arrived still finds it; each push keeps its signed timestamp and nonce, used once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_events") as table:
        table.add_column(sa.Column("msg_id", sa.String(64)))
        table.add_column(sa.Column("report_status", sa.String(32)))
        table.add_column(sa.Column("signed_at", sa.BigInteger()))
        table.add_column(sa.Column("nonce", sa.String(64)))
    op.create_index("ux_callback_events_nonce", "callback_events", ["appid", "signed_at", "nonce"], unique=True)
    where = sa.text("msg_id IS NOT NULL")
    op.create_index(
        "ix_callback_events_msg", "callback_events", ["appid", "msg_id"], postgresql_where=where, sqlite_where=where
    )


def downgrade() -> None:
    op.drop_index("ix_callback_events_msg", "callback_events")
    op.drop_index("ux_callback_events_nonce", "callback_events")
    with op.batch_alter_table("callback_events") as table:
        table.drop_column("nonce")
        table.drop_column("signed_at")
        table.drop_column("report_status")
        table.drop_column("msg_id")
