"""The campaign store's first schema: tokens, fans and tags, interactions, receipts, quotas, media,
templates, the history of runs and the recipient ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(1024)),
        sa.Column("expires_at", sa.Float()),
        sa.Column("refreshed_at", sa.Float()),
        sa.Column("refreshes", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "fan_tags",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("tag_id", sa.Integer(), primary_key=True),
        sa.Column("openid", sa.String(64), primary_key=True),
    )
    op.create_index("ix_fan_tags_fan", "fan_tags", ["appid", "openid"])
    op.create_table(
        "fans",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("subscribed", sa.Boolean()),
        sa.Column("blocks_templates", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("blacklisted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("refuses_messages", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("language", sa.String(16)),
        sa.Column("remark", sa.String(128)),
        sa.Column("unionid", sa.String(64)),
        sa.Column("subscribe_time", sa.BigInteger()),
        sa.Column("attributes", sa.JSON()),
        sa.Column("updated_at", sa.Float()),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("appid", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(128), unique=True),
    )
    op.create_index("ix_interactions_fan", "interactions", ["appid", "openid", "at"])
    op.create_table(
        "mass_jobs",
        sa.Column("run_key", sa.String(300), primary_key=True),
        sa.Column("batch_no", sa.Integer(), primary_key=True),
        sa.Column("clientmsgid", sa.String(64), nullable=False),
        sa.Column("msg_id", sa.String(32)),
        sa.Column("recipients", sa.Integer()),
        sa.Column("submitted_at", sa.Float()),
        sa.Column("wechat_status", sa.String(32)),
        sa.Column("total_count", sa.Integer()),
        sa.Column("filter_count", sa.Integer()),
        sa.Column("sent_count", sa.Integer()),
        sa.Column("error_count", sa.Integer()),
        sa.Column("finished_at", sa.Float()),
    )
    op.create_index("ix_mass_jobs_msg", "mass_jobs", ["msg_id"])
    op.create_table(
        "mass_receipts",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("receipt_key", sa.String(96), primary_key=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index("ix_mass_receipts_month", "mass_receipts", ["appid", "month", "openid"])
    op.create_table(
        "media",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(24), primary_key=True),
        sa.Column("media_id", sa.String(256)),
        sa.Column("url", sa.String(1024)),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float()),
    )
    op.create_table(
        "quota_usage",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("api", sa.String(96), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("used", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "recipients",
        sa.Column("run_key", sa.String(300), primary_key=True),
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("errcode", sa.Integer()),
        sa.Column("msg_id", sa.String(32)),
        sa.Column("batch_no", sa.Integer()),
        sa.Column("updated_at", sa.Float()),
    )
    op.create_index("ix_recipients_batch", "recipients", ["run_key", "batch_no", "status"])
    op.create_index("ix_recipients_openid", "recipients", ["openid"])
    op.create_index("ix_recipients_status", "recipients", ["run_key", "status"])
    op.create_table(
        "runs",
        sa.Column("run_key", sa.String(300), primary_key=True),
        sa.Column("dag_id", sa.String(250)),
        sa.Column("dag_run_id", sa.String(250)),
        sa.Column("conn_id", sa.String(250)),
        sa.Column("appid", sa.String(64)),
        sa.Column("name", sa.String(200)),
        sa.Column("kind", sa.String(24)),
        sa.Column("content", sa.String(300)),
        sa.Column("audience", sa.String(300)),
        sa.Column("conf", sa.JSON()),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("scheduled_for", sa.Float()),
        sa.Column("created_at", sa.Float()),
        sa.Column("started_at", sa.Float()),
        sa.Column("finished_at", sa.Float()),
        sa.Column("counts", sa.JSON()),
        sa.Column("msg_ids", sa.JSON()),
        sa.Column("wechat_report", sa.JSON()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_runs_created", "runs", ["created_at"])
    op.create_table(
        "tags",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("tag_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("fan_count", sa.Integer()),
        sa.Column("synced_at", sa.Float()),
    )
    op.create_table(
        "templates",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("template_id", sa.String(128), primary_key=True),
        sa.Column("title", sa.String(128)),
        sa.Column("content", sa.Text()),
        sa.Column("example", sa.Text()),
        sa.Column("synced_at", sa.Float()),
    )


def downgrade() -> None:
    op.drop_table("templates")
    op.drop_table("tags")
    op.drop_table("runs")
    op.drop_table("recipients")
    op.drop_table("quota_usage")
    op.drop_table("media")
    op.drop_table("mass_receipts")
    op.drop_table("mass_jobs")
    op.drop_table("interactions")
    op.drop_table("fans")
    op.drop_table("fan_tags")
    op.drop_table("access_tokens")
