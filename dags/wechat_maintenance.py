"""
### WeChat store maintenance · 存储维护

Every day, deletes the pushes WeChat made to the callback URL (`callback_events`) that are older than
`callback_retention_days` (default 90). Each push is stored so that WeChat's retries are recognised and
reports that beat their send are applied; once applied, what it said lives on where the history reads it
(each recipient's delivery, each mass job's figures, fans' interactions and follows), so pruning changes no
count on the Sent page. Trigger by hand with another age, or run `wechat-campaigns prune-callbacks
--older-than-days N` from a terminal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from wechat_campaigns.integration.maintenance import DEFAULT_CALLBACK_RETENTION_DAYS


@dag(
    dag_id="wechat_maintenance",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["wechat", "maintenance"],
    default_args={"owner": "data", "retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "callback_retention_days": Param(
            DEFAULT_CALLBACK_RETENTION_DAYS,
            type="integer",
            minimum=1,
            title="Keep callback events for (days)",
            description="Pushes received longer ago than this are deleted; what they changed is kept.",
        )
    },
)
def wechat_maintenance():
    @task
    def prune_callback_events(params=None) -> dict:
        from wechat_campaigns.integration.maintenance import prune_callback_events

        return prune_callback_events(int(params["callback_retention_days"]))

    prune_callback_events()


wechat_maintenance()
