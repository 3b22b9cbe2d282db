"""Each account's send tasks in its own pool: the pool's name, the declared DAGs' parse-time pool, and the
cluster policy on real DAG runs in the test's Airflow database, expanded the way the scheduler expands them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.conftest import ROOT
from wechat_campaigns.integration.accounts import POOL_NAME_MAX, account_pool


def form_account() -> str:
    """The trigger form's default account (WECHAT_ACCOUNTS' first, when the parameters were first imported)."""
    from wechat_campaigns.integration.params import CAMPAIGN_PARAMS

    return CAMPAIGN_PARAMS["wechat_conn_id"].value


def test_a_pool_is_named_after_its_connection():
    assert account_pool("wechat_shop") == "wechat_wechat_shop"
    assert account_pool("shop.cn-1") == "wechat_shop.cn-1"  # Airflow's conn id characters that metrics allow
    shop, mall = account_pool("糖果铺"), account_pool("商城铺")  # any Unicode letter is a valid conn id
    assert shop != mall and shop.startswith("wechat____") and shop.isascii() and len(shop) == len("wechat____") + 9
    assert len(account_pool("x" * 250)) <= POOL_NAME_MAX
    assert account_pool("x" * 250) != account_pool("x" * 249 + "y")


def test_a_declared_campaign_sends_in_its_accounts_pool(airflow_db, tmp_path, monkeypatch):
    """Its account is known when the file is parsed: the file's wechat_conn_id, else the form's default."""
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "shop_digest.yaml").write_text(
        'schedule: "0 10 * * 1"\nconf:\n  message_type: mass\n  tag: vip\n  text: hi\n  wechat_conn_id: wechat_shop\n'
    )
    (tmp_path / "default_digest.yaml").write_text('schedule: "0 10 * * 1"\nconf:\n  message_type: mass\n  text: hi\n')
    monkeypatch.setenv("WECHAT_CAMPAIGNS_DIR", str(tmp_path))
    bag = DagBag(dag_folder=str(ROOT / "dags" / "wechat_declared_campaigns.py"))
    assert not bag.import_errors, bag.import_errors
    assert bag.get_dag("wechat_campaign__shop_digest").get_task("send").pool == "wechat_wechat_shop"
    form_default = account_pool(form_account())
    assert bag.get_dag("wechat_campaign__default_digest").get_task("send").pool == form_default
    hand = DagBag(dag_folder=str(ROOT / "dags" / "wechat_campaign.py")).get_dag("wechat_campaign")
    assert hand.get_task("send").pool == "wechat_api"  # chosen per run by the policy


def expanded_send_pools(dag, session, conf: dict | None, slices: int = 2) -> dict[str, str]:
    """Create a run as the scheduler does, let plan_batches "return" ``slices`` slices, expand ``send`` the
    way the scheduler does (under its guard against commits), and return task id[map index] -> pool."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskmap import TaskMap
    from airflow.utils.sqlalchemy import prohibit_commit
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    with prohibit_commit(session):
        run = dag.create_dagrun(
            run_id=f"pools_{uuid.uuid4().hex[:8]}",
            run_after=datetime.now(UTC),
            conf=conf,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        session.add(TaskMap(dag.dag_id, "plan_batches", run.run_id, -1, slices, None))
        session.flush()
        TaskMap.expand_mapped_task(dag.get_task("send"), run.run_id, session=session)
        session.flush()
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id)
    assert isinstance(run, DagRun)
    return {f"{ti.task_id}[{ti.map_index}]": ti.pool for ti in tis}


def test_the_policy_puts_each_runs_send_tasks_in_its_accounts_pool(scheduler_dags):
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    dag = scheduler_dags("wechat_campaign")
    with create_session() as session:
        try:
            Pool.create_or_update_pool("wechat_api", 4, "fallback", False, session=session)
            Pool.create_or_update_pool("wechat_wechat_pool_a", 2, "a", False, session=session)
            session.flush()

            pools = expanded_send_pools(dag, session, {"wechat_conn_id": "wechat_pool_a"})
            assert pools["send[0]"] == pools["send[1]"] == "wechat_wechat_pool_a"
            assert pools["validate[-1]"] == pools["write_history[-1]"] == "default_pool"  # only send tasks

            # An account whose pool was not made yet: the fallback, so that the run is not stuck.
            pools = expanded_send_pools(dag, session, {"wechat_conn_id": "wechat_pool_new"}, slices=3)
            assert {pools[f"send[{i}]"] for i in range(3)} == {"wechat_api"}
        finally:
            session.rollback()


def test_a_declared_campaign_keeps_its_pool_or_falls_back(scheduler_dags):
    """vip_weekly_digest (include/campaigns) names no account: the trigger form's default."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    dag = scheduler_dags("wechat_campaign__vip_weekly_digest")
    own = account_pool(form_account())
    assert dag.get_task("send").pool == own  # set when the file was parsed
    with create_session() as session:
        try:
            Pool.create_or_update_pool("wechat_api", 4, "fallback", False, session=session)
            session.flush()
            assert expanded_send_pools(dag, session, None)["send[0]"] == "wechat_api"  # its pool is missing
            Pool.create_or_update_pool(own, 3, "default", False, session=session)
            session.flush()
            assert expanded_send_pools(dag, session, {})["send[1]"] == own
        finally:
            session.rollback()
