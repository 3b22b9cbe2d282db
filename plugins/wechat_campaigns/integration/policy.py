"""Airflow cluster policy (entry point group ``airflow.policy``, see pyproject.toml): a campaign's send tasks
take slots of their account's pool, so that one busy account does not hold back the others.

The hand-triggered ``wechat_campaign`` DAG learns its account from the run's conf (``wechat_conn_id``), so the
pool cannot be set when the DAG is parsed: this hook sets it when the scheduler creates the run's task
instances (the mapped ``send`` ones when it expands them), and again when a task instance is cleared.

- Only ``WeChatSendOperator`` task instances are touched (by type name: the scheduler holds serialized
  operators, not our class).
- The account: the run conf's ``wechat_conn_id``, else the DAG's default for it (a declared campaign's
  file, or the trigger form's default); the pool: ``accounts.account_pool(conn_id)``, ``wechat_<conn_id>``.
- When that pool does not exist (an account added after ``wechat-campaigns pools`` last ran), the task
  keeps the fallback pool (``wechat_api``): the scheduler never schedules a task instance of a missing pool,
  so the run would wait for ever. The check reads the ``pool`` table through the session the run is attached
  to: the hook runs inside the scheduler's transaction and must neither open a session nor commit.

Imported by every Airflow process (``import airflow`` loads policy plugins): keep it light.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.policies import hookimpl

SEND_OPERATOR = "WeChatSendOperator"
CONN_PARAM = "wechat_conn_id"

log = logging.getLogger(__name__)


@hookimpl
def task_instance_mutation_hook(task_instance: Any, dag_run: Any) -> None:
    if dag_run is None or not _is_send_task(task_instance):
        return  # dag_run is None while a task instance is being constructed; the hook runs again with it
    from sqlalchemy.orm import object_session

    from .accounts import account_pool, send_pool

    session = object_session(dag_run) or object_session(task_instance)
    if session is None:
        return  # nothing to check the pool with (no new session may be opened): the task keeps its pool
    wanted = account_pool(_conn_id(task_instance, dag_run))
    if _pool_exists(session, wanted):
        task_instance.pool = wanted
        return
    fallback = send_pool()
    log.warning(
        "%s.%s: pool %s does not exist (run `wechat-campaigns pools`); the task takes a slot of %s",
        task_instance.dag_id,
        task_instance.task_id,
        wanted,
        fallback,
    )
    task_instance.pool = fallback


def _is_send_task(task_instance: Any) -> bool:
    task = getattr(task_instance, "task", None)
    names = {getattr(task_instance, "operator", None), getattr(task, "task_type", None)}
    return SEND_OPERATOR in names


def _conn_id(task_instance: Any, dag_run: Any) -> str:
    conf = dag_run.conf if isinstance(getattr(dag_run, "conf", None), dict) else {}
    chosen = conf.get(CONN_PARAM)
    if isinstance(chosen, str) and chosen.strip():
        return chosen.strip()
    from .accounts import default_account

    return _dag_default(task_instance) or default_account()


def _dag_default(task_instance: Any) -> str | None:
    """The DAG's own default for the account (a declared campaign's file, or the form's default)."""
    dag = getattr(getattr(task_instance, "task", None), "dag", None)
    params = getattr(dag, "params", None)
    try:
        value = params[CONN_PARAM] if params is not None else None
    except (KeyError, TypeError, ValueError):
        return None
    value = getattr(value, "value", value)  # a Param, or its value
    return value.strip() if isinstance(value, str) and value.strip() else None


def _pool_exists(session: Any, pool: str) -> bool:
    import sqlalchemy as sa
    from airflow.models.pool import Pool

    with session.no_autoflush:  # the task instance being made must not be flushed half-built
        return session.scalar(sa.select(Pool.id).where(Pool.pool == pool)) is not None
