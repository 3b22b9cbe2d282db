"""What the campaign DAG's tasks do, one small function each; the work is in ``wechat_campaigns.campaigns``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import urlencode

from airflow.sdk import get_current_context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from ..campaigns import audience, summary, validation
from ..campaigns.run import CampaignRun, utcnow
from ..campaigns.template_admin import TemplateAdmin, TemplatePlanRefused
from ..domain.errors import WeChatTransportError
from ..domain.spec import MAX_CONF_BYTES, FieldProblem, InvalidCampaign, check_schedule, parse_campaign
from ..domain.templates import TemplatePlan
from ..library import load_template_plan
from ..store import history
from ..store.db import SchemaMismatch, StoreNotConfigured, engine_for
from .hook import WeChatHook, ready_store

log = logging.getLogger(__name__)

# The steps before the first send, in order: when one of them did not succeed, the run sent nothing.
STEPS_BEFORE_SENDING = ("validate", "wait_until_send_time", "resolve_audience", "filter_eligible", "plan_batches")


def campaign_run(context: Any | None = None, *, check_send_at: bool = False, send_task: bool = False) -> CampaignRun:
    """Build the run from the task's context: its params (the conf) and its DAG run."""
    context = context or get_current_context()
    spec = parse_campaign(context["params"], utcnow(), check_send_at=check_send_at)
    validation.check_store_sizes(spec)  # before any step keeps a value that PostgreSQL would refuse
    hook = WeChatHook(spec.conn_id)
    try:
        settings = hook.settings
    except AirflowNotFoundException:
        raise InvalidCampaign(
            [FieldProblem("wechat_conn_id", f"no Airflow connection named {spec.conn_id!r}")]
        ) from None
    if check_send_at:
        check_schedule(spec, utcnow(), settings.schedule_horizon_days)
    return CampaignRun(
        run_key=run_key(context),
        spec=spec,
        settings=settings,
        store_url=ready_store(),
        make_client=lambda: hook.make_client(1 / settings.send_slots if send_task else 1.0),
    )


def run_key(context: Any) -> str:
    dag_run = context["dag_run"]
    return f"{dag_run.dag_id}/{dag_run.run_id}"


def validate() -> dict[str, Any]:
    context = get_current_context()
    with failure_recorded("validate", context):
        try:
            run = campaign_run(context, check_send_at=True)
            return validation.validate(run)
        except (InvalidCampaign, ValueError) as exc:
            # Record the refusal (the history shows it with its reason), then fail without retrying.
            url = ready_store()
            history.save_run(
                engine_for(url),
                run_key(context),
                status="rejected",
                error=str(exc),
                dag_id=context["dag_run"].dag_id,
                dag_run_id=context["dag_run"].run_id,
                conf=_conf_to_keep(context["params"]),
            )
            raise refusal(context, exc) from None


def refusal(context: Any, error: Exception) -> AirflowFailException:
    """Say why the campaign was refused first and plainly in the task's log, one line per field, with where
    the Sent page shows the run; the exception to raise (it fails the task without retries) carries the
    message only, so the traceback Airflow logs under it is not a second copy of where our code found it."""
    problems = error.problems if isinstance(error, InvalidCampaign) else [error]
    for problem in problems:
        log.error("campaign rejected: %s", problem)
    log.error("Nothing was sent. The run on the Sent page: %s", sent_page(run_key(context)))
    return AirflowFailException(f"campaign rejected: {error}")


def sent_page(key: str) -> str:
    """The run's page on the Sent page (the API server's address when Airflow is configured with one)."""
    base = str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}/wechat/sent/run?{urlencode({'key': key})}"


def _conf_to_keep(params: Any) -> dict[str, Any] | None:
    """The conf for the history of a refusal; not one refused for its size (that is in the error)."""
    conf = dict(params)
    return conf if len(json.dumps(conf, ensure_ascii=False, default=str).encode()) <= MAX_CONF_BYTES else None


def resolve_audience() -> dict[str, int]:
    context = get_current_context()
    with failure_recorded("resolve_audience", context):
        run = campaign_run(context)
        history.save_run(run.engine, run.run_key, status="sending", started_at=utcnow().timestamp())
        try:
            return audience.resolve_audience(run)
        except InvalidCampaign as exc:
            validation.reject(run, exc)
            raise refusal(context, exc) from None


def filter_eligible() -> dict[str, int]:
    context = get_current_context()
    with failure_recorded("filter_eligible", context):
        return audience.filter_eligible(campaign_run(context))


def plan_batches(max_slices: int) -> list[dict]:
    context = get_current_context()
    with failure_recorded("plan_batches", context):
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
        end_refused_run(context, str(exc))
    except (SchemaMismatch, StoreNotConfigured) as exc:
        raise AirflowFailException(str(exc)) from exc
    row = history.get_run(run.engine, run.run_key)
    if row is not None and row["status"] == "rejected":
        end_refused_run(context, str(row["error"]))
    try:
        return summary.write_history(run, counts, stopped=step_that_stopped(context))
    except summary.RunFailed as exc:
        raise AirflowFailException(str(exc)) from exc


def end_refused_run(context: Any, reason: str) -> NoReturn:
    """write_history of a refused run: the refusal is recorded and validate's log says why; this task only
    keeps the run failed (Airflow judges a run by its last task). SystemExit fails it (it has no retries)
    without the traceback AirflowFailException gets, which would be a second one for the same refusal."""
    log.error("campaign rejected: %s", reason)
    log.error("Nothing was sent. The run on the Sent page: %s", sent_page(run_key(context)))
    raise SystemExit(1)


def step_that_stopped(context: Any) -> summary.Stopped | None:
    """The first step before sending that did not succeed, as Airflow saw it (the ledger of a run stopped
    there is empty or unplanned: it cannot tell)."""
    dag_run = context["dag_run"]
    found = context["ti"].get_task_states(
        dag_id=dag_run.dag_id, run_ids=[dag_run.run_id], task_ids=list(STEPS_BEFORE_SENDING)
    )
    states = found.get(dag_run.run_id, {})
    for step in STEPS_BEFORE_SENDING:
        if states.get(step) != "success":
            return summary.Stopped(step, str(states.get(step) or "not run"))
    return None


@contextmanager
def failure_recorded(step: str, context: Any) -> Iterator[None]:
    """Run a step; if it fails for any reason but a refusal (recorded as such), say so on the run's history
    row before Airflow retries it or gives up. The row may say so while a retry succeeds: write_history, which
    runs last, gives the verdict and clears what no longer holds."""
    try:
        yield
    except AirflowFailException:
        raise
    except (SchemaMismatch, StoreNotConfigured) as exc:  # an operator's step is missing: retrying cannot help
        raise AirflowFailException(str(exc)) from exc
    except Exception as exc:
        record_failure(context, step, exc)
        if isinstance(exc, WeChatTransportError) and not exc.retryable:  # e.g. a certificate not trusted
            raise AirflowFailException(str(exc)) from exc
        raise


def record_failure(context: Any, step: str, error: BaseException) -> None:
    """``<step> failed: <error>`` on the run's history row, which is opened if validate never got to."""
    try:
        engine = engine_for(ready_store())
        key = run_key(context)
        fields: dict[str, Any] = {"error": f"{step} failed: {first_line(error)}"}
        if history.get_run(engine, key) is None:
            fields.update(status="sending", **_description(context))
        history.save_run(engine, key, **fields)
    except Exception:  # the store itself may be what failed: the step's own error is the one to raise
        log.exception("could not record on the history that %s failed", step)


def _description(context: Any) -> dict[str, Any]:
    """What the history shows of the run, as much as its conf gives."""
    try:
        return validation.describe(campaign_run(context))
    except Exception:  # a conf that cannot be read: keep it as it came
        dag_run = context["dag_run"]
        return {"dag_id": dag_run.dag_id, "dag_run_id": dag_run.run_id, "conf": dict(context["params"])}


def first_line(error: BaseException) -> str:
    """What an error says, without what follows its first line (a database error goes on with the statement
    and all its parameters)."""
    lines = str(error).strip().splitlines()
    return lines[0][:500] if lines else type(error).__name__


def manage_templates(conn_id: str) -> dict[str, Any]:
    """Apply ``templates/<conn_id>.yaml`` to the account (industry, deletions, additions) and sync the list."""
    plan = load_template_plan(conn_id)
    hook = WeChatHook(conn_id)
    admin = TemplateAdmin(hook.settings.appid, hook.client, engine_for(ready_store()))
    if plan is None:
        plan = TemplatePlan(None, ())  # nothing declared: only sync the account's list into the store
    try:
        return admin.apply(plan).as_dict()
    except TemplatePlanRefused as exc:
        raise AirflowFailException(str(exc)) from exc
