"""
### WeChat templates · 模板管理

Brings each account's template messages in line with its file `include/materials/templates/<conn_id>.yaml`:

- **industry** (`industry: [1, 31]`): changed only if it differs, and at most once a Beijing month — a
  second change is refused with the date it becomes possible, before anything else changes (changing the
  industry deletes the templates of the old one);
- **templates**: each `short_id` with its `keywords` is added unless we added it before; `delete: true`
  removes one we added; the plan is refused if the account would hold more than 25;
- then the account's template list is synced into the store (campaigns check their fields against it).

Accounts: `WECHAT_ACCOUNTS` (comma-separated connection ids, default `wechat_default`). Trigger by hand after
editing a file.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from wechat_campaigns.integration import tasks as steps
from wechat_campaigns.integration.accounts import account_conn_ids


@dag(
    dag_id="wechat_templates",
    schedule=None,
    doc_md=__doc__,
    tags=["wechat", "templates"],
    default_args={"owner": "marketing", "retries": 1, "retry_delay": timedelta(seconds=30)},
)
def wechat_templates():
    for conn_id in account_conn_ids():

        @task(task_id=f"templates_{conn_id}")
        def manage(conn_id: str = conn_id) -> dict:
            return steps.manage_templates(conn_id)

        manage()


wechat_templates()
