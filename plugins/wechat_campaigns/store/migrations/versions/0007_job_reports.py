"""Job-finish reports keep their MsgID and Status in columns, so a send that writes its msg_ids after the
report arrived still finds it.

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
    where = sa.text("msg_id IS NOT NULL")
    op.create_index(
        "ix_callback_events_msg", "callback_events", ["appid", "msg_id"], postgresql_where=where, sqlite_where=where
    )


def downgrade() -> None:
    op.drop_index("ix_callback_events_msg", "callback_events")
    with op.batch_alter_table("callback_events") as table:
        table.drop_column("report_status")
        table.drop_column("msg_id")
