"""The campaign store's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# One row per account: the access token every worker uses (docs/architecture.md, *The access token*).
access_tokens = sa.Table(
    "access_tokens",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(1024)),  # WeChat: reserve at least 512 characters
    sa.Column("expires_at", sa.Float),  # epoch seconds
    sa.Column("refreshed_at", sa.Float),
    sa.Column("refreshes", sa.Integer, nullable=False, server_default="0"),
)

# What we know of each fan, learnt the way WeChat lets us learn it (sync, callbacks, API answers, imports).
fans = sa.Table(
    "fans",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("openid", sa.String(64), primary_key=True),
    sa.Column("subscribed", sa.Boolean),  # NULL: not heard either way
    sa.Column("blocks_templates", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("blacklisted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("refuses_messages", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("language", sa.String(16)),
    sa.Column("remark", sa.String(128)),
    sa.Column("unionid", sa.String(64)),
    sa.Column("subscribe_time", sa.BigInteger),
    sa.Column("attributes", sa.JSON),  # a data engineer's fields for personalisation (name, points, ...)
    sa.Column("updated_at", sa.Float),
    sa.Column("seen_in_sync", sa.String(64)),  # the last audience sync that found the fan following
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("tag_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("fan_count", sa.Integer),
    sa.Column("synced_at", sa.Float),
)

fan_tags = sa.Table(
    "fan_tags",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("tag_id", sa.Integer, primary_key=True),
    sa.Column("openid", sa.String(64), primary_key=True),
    sa.Index("ix_fan_tags_fan", "appid", "openid"),
)

# Interactions that open customer-service windows (kinds as in domain.eligibility.INTERACTION_WINDOWS).
interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("appid", sa.String(64), nullable=False),
    sa.Column("openid", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # callback | import
    sa.Column("dedupe_key", sa.String(128), unique=True),  # MsgId, or FromUserName+CreateTime for events
    sa.Index("ix_interactions_fan", "appid", "openid", "at"),
)

# Mass messages a fan received, for the 4-per-month cap: ours, and those a data engineer imports.
mass_receipts = sa.Table(
    "mass_receipts",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("openid", sa.String(64), primary_key=True),
    sa.Column("receipt_key", sa.String(96), primary_key=True),  # run+batch, or the import's own id
    sa.Column("month", sa.String(7), nullable=False),  # YYYY-MM, Beijing
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # campaign | import
    sa.Index("ix_mass_receipts_month", "appid", "month", "openid"),
)

# API calls made per account, API and Beijing day: our own count of the daily quotas.
quota_usage = sa.Table(
    "quota_usage",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("api", sa.String(96), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("used", sa.Integer, nullable=False, server_default="0"),
)

# Uploaded media and drafts, keyed by the content's hash so a material is uploaded once per account.
media = sa.Table(
    "media",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(24), primary_key=True),  # temporary | permanent | article_image | draft | mass_video
    sa.Column("media_id", sa.String(256)),
    sa.Column("url", sa.String(1024)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),  # temporary media: 3 days
)

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("template_id", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(128)),
    sa.Column("content", sa.Text),
    sa.Column("example", sa.Text),
    sa.Column("synced_at", sa.Float),
    sa.Column("short_id", sa.String(64)),  # set when the wechat_templates DAG added it
    sa.Column("keywords", sa.JSON),
)

# Small facts about an account that the product must remember, e.g. when its industry was last changed.
account_state = sa.Table(
    "account_state",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("updated_at", sa.Float),
)

# One row per campaign run: the history (已发送).
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_key", sa.String(300), primary_key=True),  # dag_id/run_id
    sa.Column("dag_id", sa.String(250)),
    sa.Column("dag_run_id", sa.String(250)),
    sa.Column("conn_id", sa.String(250)),
    sa.Column("appid", sa.String(64)),
    sa.Column("name", sa.String(200)),
    sa.Column("kind", sa.String(24)),
    sa.Column("content", sa.String(300)),
    sa.Column("audience", sa.String(300)),
    sa.Column("conf", sa.JSON),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("scheduled_for", sa.Float),
    sa.Column("created_at", sa.Float),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("counts", sa.JSON),  # by status and by reason
    sa.Column("msg_ids", sa.JSON),
    sa.Column("wechat_report", sa.JSON),  # what WeChat's job-finish callbacks said
    sa.Column("message", sa.JSON),  # the request part sent (media uploaded), built by the plan step
    sa.Column("lint", sa.JSON),  # what WeChat would change or refuse in a template campaign's values
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_created", "created_at"),
)

# The recipient ledger: pending -> sending -> sent | failed | unknown, or excluded with a reason.
recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("run_key", sa.String(300), primary_key=True),
    sa.Column("openid", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("reason", sa.String(32)),
    sa.Column("errcode", sa.Integer),
    sa.Column("msg_id", sa.String(32)),
    sa.Column("batch_no", sa.Integer),
    sa.Column("updated_at", sa.Float),
    sa.Column("delivery", sa.String(32)),  # what WeChat's TEMPLATESENDJOBFINISH said: success, failed:user block, ...
    # Every index costs each of a million-fan ledger's writes: those on msg_id and delivery cover only the
    # rows that have one (partial indexes), which no insert or plan update touches.
    sa.Index("ix_recipients_batch", "run_key", "batch_no", "status"),
    sa.Index(
        "ix_recipients_msg",
        "msg_id",
        postgresql_where=sa.text("msg_id IS NOT NULL"),
        sqlite_where=sa.text("msg_id IS NOT NULL"),
    ),
    sa.Index("ix_recipients_position", "run_key", "position"),  # ledger order: paging, exports
    sa.Index(
        "ix_recipients_delivery",
        "run_key",
        "delivery",
        postgresql_where=sa.text("delivery IS NOT NULL"),
        sqlite_where=sa.text("delivery IS NOT NULL"),
    ),  # the Sent page's delivered count
    sa.Index("ix_recipients_status", "run_key", "status", "position"),  # counts, and keyset scans by status
    sa.Index("ix_recipients_openid", "openid"),  # a fan's customer-service sends across runs
)

# One row per mass API call, so a retry finds the job and callbacks find the run.
mass_jobs = sa.Table(
    "mass_jobs",
    metadata,
    sa.Column("run_key", sa.String(300), primary_key=True),
    sa.Column("batch_no", sa.Integer, primary_key=True),
    sa.Column("clientmsgid", sa.String(64), nullable=False),
    sa.Column("msg_id", sa.String(32)),
    sa.Column("recipients", sa.Integer),
    sa.Column("submitted_at", sa.Float),
    sa.Column("wechat_status", sa.String(32)),
    sa.Column("total_count", sa.Integer),
    sa.Column("filter_count", sa.Integer),
    sa.Column("sent_count", sa.Integer),
    sa.Column("error_count", sa.Integer),
    sa.Column("finished_at", sa.Float),
    sa.Column("to_all", sa.Boolean, nullable=False, server_default=sa.false()),  # is_to_all: WeChat limits these
    sa.Index("ix_mass_jobs_msg", "msg_id"),
)

# Every push WeChat made to the callback URL, kept once (WeChat retries up to three times).
callback_events = sa.Table(
    "callback_events",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("dedupe_key", sa.String(160), primary_key=True),
    sa.Column("msg_type", sa.String(32)),
    sa.Column("event", sa.String(64)),
    sa.Column("openid", sa.String(64)),
    sa.Column("created_at", sa.BigInteger),  # WeChat's CreateTime
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(64)),  # what the push changed, e.g. "interaction:text", "mass_report"
    sa.Column("payload", sa.JSON),
    # A job-finish report's MsgID and Status, so that a send that writes its msg_ids after the report arrived
    # still finds it (store.reports.catch_up).
    sa.Column("msg_id", sa.String(64)),
    sa.Column("report_status", sa.String(32)),
    # The signed URL's timestamp and nonce: another body under the same signature is a replay, refused.
    sa.Column("signed_at", sa.BigInteger),
    sa.Column("nonce", sa.String(64)),
    sa.Index("ix_callback_events_received", "appid", "received_at"),
    sa.Index("ux_callback_events_nonce", "appid", "signed_at", "nonce", unique=True),
    sa.Index(
        "ix_callback_events_msg",
        "appid",
        "msg_id",
        postgresql_where=sa.text("msg_id IS NOT NULL"),
        sqlite_where=sa.text("msg_id IS NOT NULL"),
    ),
)

# Where an audience sync stands, so that a sync stopped by a quota resumes where it stopped.
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("sync_id", sa.String(64), nullable=False),
    sa.Column("phase", sa.String(24), nullable=False),  # tags | followers | details | tag_members | templates | done
    sa.Column("cursor", sa.JSON),
    sa.Column("counts", sa.JSON),
    sa.Column("started_at", sa.Float),
    sa.Column("updated_at", sa.Float),
    sa.Column("finished_at", sa.Float),
)
