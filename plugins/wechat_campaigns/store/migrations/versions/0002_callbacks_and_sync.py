"""Callback events, WeChat's delivery status per recipient, and resumable audience syncs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.add_column(sa.Column("seen_in_sync", sa.String(64)))
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("delivery", sa.String(32)))
        batch.create_index("ix_recipients_msg", ["msg_id"])
    op.create_table(
        "callback_events",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("dedupe_key", sa.String(160), primary_key=True),
        sa.Column("msg_type", sa.String(32)),
        sa.Column("event", sa.String(64)),
        sa.Column("openid", sa.String(64)),
        sa.Column("created_at", sa.BigInteger()),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(64)),
        sa.Column("payload", sa.JSON()),
    )
    op.create_index("ix_callback_events_received", "callback_events", ["appid", "received_at"])
    op.create_table(
        "sync_state",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("sync_id", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(24), nullable=False),
        sa.Column("cursor", sa.JSON()),
        sa.Column("counts", sa.JSON()),
        sa.Column("started_at", sa.Float()),
        sa.Column("updated_at", sa.Float()),
        sa.Column("finished_at", sa.Float()),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_index("ix_callback_events_received", "callback_events")
    op.drop_table("callback_events")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_index("ix_recipients_msg")
        batch.drop_column("delivery")
    with op.batch_alter_table("fans") as batch:
        batch.drop_column("seen_in_sync")
