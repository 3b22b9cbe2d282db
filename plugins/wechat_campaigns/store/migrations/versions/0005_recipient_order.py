"""Indexes for reading a large ledger in order and counting WeChat's deliveries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_recipients_position", "recipients", ["run_key", "position"])
    op.create_index("ix_recipients_delivery", "recipients", ["run_key", "delivery"])


def downgrade() -> None:
    op.drop_index("ix_recipients_delivery", "recipients")
    op.drop_index("ix_recipients_position", "recipients")
