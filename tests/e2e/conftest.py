"""End-to-end runs of the campaign DAG with ``dag.test()`` against the sandbox and a real store.

Airflow's metadata database (SQLite, in the session's AIRFLOW_HOME set by tests/conftest.py) is created once.
Each test gets its own campaign store and its own sandbox account; the connections come from
``AIRFLOW_CONN_*`` variables, as a data engineer would configure them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.fixtures.airflow import CALLBACK_ACCOUNTS
from tests.fixtures.sandbox import SandboxAccount, make_standard_account
from wechat_campaigns.store import history, ledger
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.schema import callback_events, fans, interactions, mass_jobs, recipients, runs


def parse_campaign_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("wechat_campaign")


@pytest.fixture
def campaign_dag(airflow_db):
    return parse_campaign_dag


@dataclass
class CampaignHarness:
    load_dag: Any
    account: SandboxAccount
    store_url: str

    @property
    def engine(self):
        return engine_for(self.store_url)

    def run(self, **conf: Any):
        """Trigger the campaign in-process and return the finished DagRun. The DAG is parsed for each run:
        ``dag.test(run_conf=...)`` leaves the conf in the parsed DAG's params."""
        return self.load_dag().test(run_conf=conf)

    def run_retrying_at_once(self, **conf: Any):
        """As ``run``, but a failed task's retries start at once: the DAG waits 15 s, then 30 s, which a test of
        a step that fails every time need not sit through."""
        dag = self.load_dag()
        at_once = {"retry_delay": timedelta(0), "retry_exponential_backoff": 0}
        dag.default_args = {**dag.default_args, **at_once}  # a mapped task's instances are made with these
        for task in dag.tasks:
            task.retry_delay, task.retry_exponential_backoff = at_once.values()
        return dag.test(run_conf=conf)

    def history(self, dag_run) -> dict[str, Any]:
        return history.get_run(self.engine, f"{dag_run.dag_id}/{dag_run.run_id}")

    def ledger(self, dag_run) -> dict[str, tuple[str, str | None]]:
        rows = ledger.recipients_page(self.engine, f"{dag_run.dag_id}/{dag_run.run_id}", limit=100_000)
        return {row.openid: (row.status, row.reason) for row in rows}

    def inbox(self, openid: str) -> list[dict[str, Any]]:
        return self.account.admin.inbox(self.account.appid, openid)

    def received(self, kind: str | None = None) -> dict[str, int]:
        return self.account.admin.inbox_counts(self.account.appid, kind=kind)

    def xcom(self, dag_run, task_id: str) -> Any:
        """What a task of the run returned, as the next task received it."""
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value")
        with create_session() as session:
            return XComModel.deserialize_value(session.scalars(query).one())

    def task_states(self, dag_run) -> dict[str, str]:
        return {
            f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: ti.state
            for ti in dag_run.get_task_instances()
        }


def connect(monkeypatch, account: SandboxAccount, store_url: str, **extra: Any) -> None:
    connection = {
        "conn_type": "wechat_mp",
        "login": account.appid,
        "password": account.secret,
        "host": account.base_url,
        "extra": {"account_type": "service", "verified": True, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_STORE", json.dumps(store_connection(store_url)))


def store_connection(store_url: str) -> dict[str, Any]:
    """The Airflow connection of the campaign store at ``store_url`` (a SQLite file or a PostgreSQL database)."""
    if store_url.startswith("sqlite"):
        return {"conn_type": "sqlite", "host": store_url.removeprefix("sqlite:///")}
    url = sa.engine.make_url(store_url)
    return {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username, "schema": url.database}


@pytest.fixture
def campaign(campaign_dag, sandbox, store_url, monkeypatch) -> CampaignHarness:
    """The standard sandbox account (5 fans, the order-paid template) wired to the DAG."""
    account = make_standard_account(sandbox)
    connect(monkeypatch, account, store_url)
    return CampaignHarness(campaign_dag, account, store_url)


@pytest.fixture
def any_campaign(campaign_dag, sandbox, any_store_url, monkeypatch) -> CampaignHarness:
    """``campaign`` with its store on SQLite, then on PostgreSQL."""
    account = make_standard_account(sandbox)
    connect(monkeypatch, account, any_store_url)
    return CampaignHarness(campaign_dag, account, any_store_url)


@pytest.fixture
def make_campaign(campaign_dag, sandbox, store_url, monkeypatch):
    """A harness for an account of the test's own making (``make_standard_account`` overrides)."""

    def build(connection_extra: dict[str, Any] | None = None, **account: Any) -> CampaignHarness:
        made = make_standard_account(sandbox, **account)
        connect(monkeypatch, made, store_url, **(connection_extra or {}))
        return CampaignHarness(campaign_dag, made, store_url)

    return build


CALLBACK_FANS = [f"oCallbackFan{i:016d}" for i in range(6)]


@pytest.fixture
def callback_campaign(api_server, sandbox, campaign_dag, monkeypatch):
    """A sandbox account per mode whose callback URL is the API server's endpoint, wired for DAG runs too."""
    for name, value in api_server.connection_env(sandbox.base_url).items():
        monkeypatch.setenv(name, value)
    engine = engine_for(api_server.store_url)
    with engine.begin() as connection:  # the API server's store outlives a test: start each one clean
        for table in (callback_events, interactions, fans, mass_jobs, recipients, runs):  # (msg ids restart too)
            connection.execute(sa.delete(table))

    def account(mode: str, **settings) -> CampaignHarness:
        spec = CALLBACK_ACCOUNTS[mode]
        made = make_standard_account(
            sandbox,
            appid=spec.appid,
            secret=spec.secret,
            callback_url=f"{api_server.url}/wechat/callback/{spec.conn_id}",
            token=spec.token,
            encrypt_mode=spec.mode,
            fans=[{"openid": openid, "tags": ["crowd"]} for openid in CALLBACK_FANS],
            **({"encoding_aes_key": spec.aes_key} if spec.aes_key else {}),
            **settings,
        )
        harness = CampaignHarness(campaign_dag, made, api_server.store_url)
        harness.conn_id = spec.conn_id
        return harness

    return account
