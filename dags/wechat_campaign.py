"""
### WeChat campaign · 公众号消息活动

Send a **mass** (群发), **customer-service** (客服) or **template** (模板) message to fans chosen by tag,
by openid list or to all followers, now or at a set time.

1. **validate** — checks the form against the account (tag, template and its fields, material, permissions,
   `send_at`); a refusal names the field and sends nothing.
2. **wait_until_send_time** — waits in the triggerer until `send_at` (no worker slot). To cancel,
   press *Cancel* on the run's Sent page before then (the run ends *success* with a note of who cancelled).
3. **resolve_audience** → **filter_eligible** → **plan_batches** — the fans go into the run's ledger; fans
   who may not receive the message are left out with a reason (monthly cap, 48-hour window, unsubscribed,
   blocked, duplicate, quota, control group).
4. **send** — a few parallel slices; each fan gets the message at most once, even when a task is retried.
5. **write_history** — the run's summary for the *Sent* page and `wechat-campaigns history`.

Trigger from the form, or `airflow dags trigger wechat_campaign -c '{"message_type": "template", ...}'`
(see the README for one example of each kind).
"""

from __future__ import annotations

from airflow.sdk import dag

from wechat_campaigns.integration.campaign_dag import DEFAULT_ARGS, campaign_tasks
from wechat_campaigns.integration.params import CAMPAIGN_PARAMS


@dag(
    dag_id="wechat_campaign",
    schedule=None,
    params=CAMPAIGN_PARAMS,
    doc_md=__doc__,
    tags=["wechat", "campaign"],
    max_active_runs=8,
    default_args=DEFAULT_ARGS,
)
def wechat_campaign():
    campaign_tasks()


wechat_campaign()
