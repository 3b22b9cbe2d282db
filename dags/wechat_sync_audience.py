"""
### WeChat audience sync · 粉丝同步

Brings each account's audience into the campaign store, the way WeChat lets an account see it:
tags (`tags/get`), followers (`user/get`, 10,000 a page), their details (`user/info/batchget`, 100 a call),
tag members (`user/tag/get`) and the account's private templates.

- **Incremental and idempotent**: fans are updated in place; fans who left are marked unsubscribed.
- **Within the quotas**: when a daily quota runs out the task defers to Beijing midnight and resumes where it
  stopped (the cursor is kept in the store).
- **Assets**: each account's task updates `wechat://<conn_id>/audience` when its sync completes.

Accounts: the `WECHAT_ACCOUNTS` environment variable (comma-separated connection ids, default
`wechat_default`); schedule: `WECHAT_SYNC_SCHEDULE` (default `@daily`). Trigger by hand any time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from wechat_campaigns.integration.accounts import account_conn_ids, audience_asset, sync_schedule
from wechat_campaigns.integration.operators import WeChatSyncAudienceOperator


@dag(
    dag_id="wechat_sync_audience",
    schedule=sync_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["wechat", "audience"],
    default_args={"owner": "data", "retries": 3, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": 2.0},
)
def wechat_sync_audience():
    for conn_id in account_conn_ids():
        WeChatSyncAudienceOperator(task_id=f"sync_{conn_id}", wechat_conn_id=conn_id, outlets=[audience_asset(conn_id)])


wechat_sync_audience()
