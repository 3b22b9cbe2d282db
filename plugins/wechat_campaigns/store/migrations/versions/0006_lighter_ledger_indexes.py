"""Lighter ledger indexes for million-fan runs: msg_id and delivery indexes cover only rows that have one;
the status index also orders by position (keyset scans of pending fans without a sort).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_recipients_msg", "recipients")
    op.drop_index("ix_recipients_delivery", "recipients")
    op.drop_index("ix_recipients_status", "recipients")
    where_msg, where_delivery = sa.text("msg_id IS NOT NULL"), sa.text("delivery IS NOT NULL")
    op.create_index("ix_recipients_msg", "recipients", ["msg_id"], postgresql_where=where_msg, sqlite_where=where_msg)
    op.create_index(
        "ix_recipients_delivery",
        "recipients",
        ["run_key", "delivery"],
        postgresql_where=where_delivery,
        sqlite_where=where_delivery,
    )
    op.create_index("ix_recipients_status", "recipients", ["run_key", "status", "position"])


def downgrade() -> None:
    op.drop_index("ix_recipients_status", "recipients")
    op.drop_index("ix_recipients_delivery", "recipients")
    op.drop_index("ix_recipients_msg", "recipients")
    op.create_index("ix_recipients_msg", "recipients", ["msg_id"])
    op.create_index("ix_recipients_delivery", "recipients", ["run_key", "delivery"])
    op.create_index("ix_recipients_status", "recipients", ["run_key", "status"])
