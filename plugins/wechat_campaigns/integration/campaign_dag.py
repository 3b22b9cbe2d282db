"""The campaign task graph, shared by the hand-triggered DAG and the DAGs declared as files."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Asset, task

from . import tasks as steps
from .accounts import account_pool, send_pool
from .declared import declared_account
from .operators import WeChatSendOperator

HISTORY = Asset("wechat_campaign_history", uri="wechat://campaigns/history")
MAX_SLICES = 4  # parallel send tasks per run; each sends at the account's rate limit / its send_slots
# The send tasks' pool: a declared campaign's account is known when it is parsed, so its pool is set here; the
# hand-triggered DAG's account comes with each run, and the cluster policy (policy.py) moves its send tasks
# from the fallback pool to the account's when the scheduler creates them.
DEFAULT_ARGS = {
    "owner": "marketing",
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    "retry_exponential_backoff": 2.0,
}


def campaign_tasks() -> None:
    """validate → wait_until_send_time → resolve_audience → filter_eligible → plan_batches → send (mapped)
    → write_history, inside the DAG being defined."""

    @task
    def validate() -> dict:
        return steps.validate()

    wait_until_send_time = DateTimeSensorAsync(
        task_id="wait_until_send_time",
        target_time="{{ ti.xcom_pull(task_ids='validate')['send_at'] }}",
    )

    @task
    def resolve_audience() -> dict:
        return steps.resolve_audience()

    @task
    def filter_eligible() -> dict:
        return steps.filter_eligible()

    @task
    def plan_batches() -> list[dict]:
        return steps.plan_batches(MAX_SLICES)

    @task(trigger_rule="all_done", outlets=[HISTORY], retries=0)
    def write_history(*, outlet_events=None) -> dict:
        summary = steps.write_history()
        outlet_events[HISTORY].extra = summary
        return summary

    slices = plan_batches()
    account = declared_account(wait_until_send_time.dag)  # the DAG being defined, which every task is in
    pool = account_pool(account) if account else send_pool()
    send = WeChatSendOperator.partial(task_id="send", pool=pool, max_active_tis_per_dagrun=MAX_SLICES).expand(
        send_slice=slices
    )
    validate() >> wait_until_send_time >> resolve_audience() >> filter_eligible() >> slices
    send >> write_history()
