"""
### Campaigns declared as files · 定期活动

Each `include/campaigns/<name>.yaml` becomes the DAG `wechat_campaign__<name>`: the campaign DAG's tasks,
its own schedule (cron, Beijing time by default), the conf fixed in the file. New ones start unpaused.
See `wechat_campaigns/integration/declared.py` for the file format.
"""

from __future__ import annotations

from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from wechat_campaigns.integration.campaign_dag import DEFAULT_ARGS, campaign_tasks
from wechat_campaigns.integration.declared import declared_campaigns
from wechat_campaigns.integration.params import CAMPAIGN_PARAMS


def _params(conf: dict) -> dict:
    """The trigger form's fields, their defaults replaced by the file's conf (scheduled runs use defaults)."""
    params = {}
    for name, param in CAMPAIGN_PARAMS.items():
        if name in conf:
            params[name] = Param(conf[name], **{k: v for k, v in param.schema.items()}, description=param.description)
        else:
            params[name] = param
    return params


for declared in declared_campaigns():
    doc = f"### {declared.name}\n\nDeclared in `include/campaigns/{declared.file}`.\n\n{declared.description}\n"
    if declared.problem:
        # A broken file still shows in the UI, saying what is wrong; it never runs by itself.
        with DAG(
            declared.dag_id,
            schedule=None,
            doc_md=doc + f"\n**This file has a problem:** {declared.problem}",
            tags=["wechat", "declared", "broken"],
            is_paused_upon_creation=True,
        ):

            @task(task_id="explain_problem")
            def explain(problem: str = declared.problem) -> None:
                raise ValueError(problem)

            explain()
        continue
    with DAG(
        declared.dag_id,
        schedule=CronTriggerTimetable(declared.schedule, timezone=declared.timezone),
        params=_params(declared.conf),
        doc_md=doc,
        tags=["wechat", "campaign", "declared", *declared.tags],
        max_active_runs=1,
        catchup=False,
        is_paused_upon_creation=False,
        default_args=DEFAULT_ARGS,
    ):
        campaign_tasks()
