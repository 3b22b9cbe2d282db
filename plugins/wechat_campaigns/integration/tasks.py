"""What the campaign DAG's tasks do, one small function each; the work is in ``wechat_campaigns.campaigns``."""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from ..campaigns import audience, summary, validation
from ..campaigns.run import CampaignRun, utcnow
from ..campaigns.template_admin import TemplateAdmin, TemplatePlanRefused
from ..domain.spec import FieldProblem, InvalidCampaign, parse_campaign
from ..domain.templates import TemplatePlan
from ..library import load_template_plan
from ..store import history
from ..store.db import engine_for, ready
from .hook import WeChatHook, store_url


def campaign_run(context: Any | None = None, *, check_send_at: bool = False, send_task: bool = False) -> CampaignRun:
    """Build the run from the task's context: its params (the conf) and its DAG run."""
    context = context or get_current_context()
    spec = parse_campaign(context["params"], utcnow(), check_send_at=check_send_at)
    hook = WeChatHook(spec.conn_id)
    try:
        settings = hook.settings
    except AirflowNotFoundException:
        raise InvalidCampaign(
            [FieldProblem("wechat_conn_id", f"no Airflow connection named {spec.conn_id!r}")]
        ) from None
    return CampaignRun(
        run_key=run_key(context),
        spec=spec,
        settings=settings,
        store_url=ready(store_url()),
        make_client=lambda: hook.make_client(1 / settings.send_slots if send_task else 1.0),
    )


def run_key(context: Any) -> str:
    dag_run = context["dag_run"]
    return f"{dag_run.dag_id}/{dag_run.run_id}"


def validate() -> dict[str, Any]:
    context = get_current_context()
    try:
        run = campaign_run(context, check_send_at=True)
        return validation.validate(run)
    except (InvalidCampaign, ValueError) as exc:
        # Record the refusal (the history shows it with its reason), then fail without retrying.
        url = ready(store_url())
        history.save_run(
            engine_for(url),
            run_key(context),
            status="rejected",
            error=str(exc),
            dag_id=context["dag_run"].dag_id,
            dag_run_id=context["dag_run"].run_id,
            conf=dict(context["params"]),
        )
        raise AirflowFailException(f"campaign rejected: {exc}") from exc


def resolve_audience() -> dict[str, int]:
    run = campaign_run()
    history.save_run(run.engine, run.run_key, status="sending", started_at=utcnow().timestamp())
    try:
        return audience.resolve_audience(run)
    except InvalidCampaign as exc:
        validation.reject(run, exc)
        raise AirflowFailException(f"campaign rejected: {exc}") from exc


def filter_eligible() -> dict[str, int]:
    return audience.filter_eligible(campaign_run())


def plan_batches(max_slices: int) -> list[dict]:
    context = get_current_context()
    counts = context["ti"].xcom_pull(task_ids="resolve_audience") or {}
    run = campaign_run(context)
    try:
        return audience.plan_batches(run, counts, max_slices)
    except InvalidCampaign as exc:
        validation.reject(run, exc)
        raise AirflowFailException(f"campaign stopped before sending: {exc}") from exc


def write_history() -> dict[str, Any]:
    context = get_current_context()
    counts = context["ti"].xcom_pull(task_ids="resolve_audience")
    try:
        run = campaign_run(context)
    except (InvalidCampaign, ValueError) as exc:
        raise AirflowFailException(f"campaign rejected: {exc}") from exc
    try:
        return summary.write_history(run, counts)
    except summary.RunFailed as exc:
        raise AirflowFailException(str(exc)) from exc


def manage_templates(conn_id: str) -> dict[str, Any]:
    """Apply ``templates/<conn_id>.yaml`` to the account (industry, deletions, additions) and sync the list."""
    plan = load_template_plan(conn_id)
    hook = WeChatHook(conn_id)
    admin = TemplateAdmin(hook.settings.appid, hook.client, engine_for(ready(store_url())))
    if plan is None:
        plan = TemplatePlan(None, ())  # nothing declared: only sync the account's list into the store
    try:
        return admin.apply(plan).as_dict()
    except TemplatePlanRefused as exc:
        raise AirflowFailException(str(exc)) from exc
