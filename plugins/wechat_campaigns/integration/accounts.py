"""Which accounts the scheduled DAGs look after, read from the environment at parse time (no DB access).

``WECHAT_ACCOUNTS``: comma-separated ``wechat_mp`` connection ids, each optionally with the name marketers
know the account by: ``wechat_default=糖果铺服务号,wechat_shop=糖果铺订阅号`` (default ``wechat_default``).
``WECHAT_SYNC_SCHEDULE``: the audience sync's schedule (cron or preset; default ``@daily``).
"""

from __future__ import annotations

import os
import re

from airflow.sdk import Asset


def _accounts() -> list[tuple[str, str]]:
    raw = os.environ.get("WECHAT_ACCOUNTS", "wechat_default")
    pairs = []
    for item in re.split(r"\s*,\s*", raw.strip()):
        conn_id, _, name = item.partition("=")
        if conn_id.strip():
            pairs.append((conn_id.strip(), name.strip() or conn_id.strip()))
    return pairs


def account_conn_ids() -> list[str]:
    return [conn_id for conn_id, _ in _accounts()]


def account_names() -> dict[str, str]:
    """conn id -> what the trigger form shows."""
    return {conn_id: f"{name} ({conn_id})" if name != conn_id else conn_id for conn_id, name in _accounts()}


def default_account() -> str:
    return account_conn_ids()[0] if account_conn_ids() else "wechat_default"


def send_pool() -> str:
    """The Airflow pool every send task takes a slot of (created at init: docker-compose, make airflow)."""
    return os.environ.get("WECHAT_SEND_POOL", "wechat_api")


def sync_schedule() -> str:
    return os.environ.get("WECHAT_SYNC_SCHEDULE", "@daily")


def audience_asset(conn_id: str) -> Asset:
    """Updated whenever the account's audience has been synced; campaigns and data engineers can follow it."""
    return Asset(name=f"wechat_audience__{conn_id}", uri=f"wechat://{conn_id}/audience")
