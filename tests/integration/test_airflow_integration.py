"""What Airflow sees of the project: the connection type, the hook, and the DAGs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from tests.conftest import ROOT
from wechat_campaigns.integration.hook import WeChatHook, account_settings
from wechat_campaigns.integration.hook import store_url as configured_store_url


def test_airflow_knows_the_wechat_connection_type_and_its_form():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    providers = ProvidersManager()  # what the API server and its connection form use
    assert "wechat-campaigns" in providers.providers
    hook = ProvidersManagerTaskRuntime().hooks["wechat_mp"]  # what a task's BaseHook.get_hook uses
    assert hook.hook_class_name == "wechat_campaigns.integration.hook.WeChatHook"
    assert hook.connection_type == "wechat_mp"
    widgets = providers.connection_form_widgets
    for field in (
        "account_type",
        "verified",
        "callback_token",
        "encoding_aes_key",
        "rate_limit",
        "template_daily_quota",
    ):
        assert f"extra__wechat_mp__{field}" in widgets
    assert widgets["extra__wechat_mp__encoding_aes_key"].is_sensitive
    behaviour = providers.field_behaviours["wechat_mp"]
    assert behaviour["relabeling"] == {"login": "AppID", "password": "AppSecret", "host": "API base URL"}


def connection(monkeypatch, conn_id, **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def account_connections(monkeypatch, account, store_url):
    """``wechat_test`` for the sandbox account, and the store."""
    connection(
        monkeypatch,
        "wechat_test",
        conn_type="wechat_mp",
        login=account.appid,
        password=account.secret,
        host=account.base_url,
    )
    connection(monkeypatch, "wechat_store", conn_type="sqlite", host=store_url.removeprefix("sqlite:///"))


def test_hook_builds_a_working_client_from_the_connection(service_account, store_url, monkeypatch):
    account_connections(monkeypatch, service_account, store_url)
    hook = WeChatHook("wechat_test")
    tags = len(service_account.call("/cgi-bin/tags/get", method="GET")["tags"])
    assert hook.test_connection() == (True, f"Connected to {service_account.appid}: {tags} fan tags")
    assert "secret" not in repr(hook.client) and service_account.secret not in repr(hook.client)
    assert configured_store_url() == store_url  # the token cache lives in the wechat_store connection's database


def test_mass_calls_from_a_hook_client_keep_under_sixty_a_minute(service_account, store_url, monkeypatch):
    """A refused mass call may still cost one of the day's 100, so the client paces itself instead of
    meeting WeChat's 45011 — also when send tasks follow one another, each with a new client, and when
    a call is slow to reach WeChat (here its access token takes 1.5 s to come: the next call counts from
    the answer, not from when the slow one set out)."""
    account_connections(monkeypatch, service_account, store_url)
    service_account.admin.faults([{"endpoint": "/cgi-bin/stable_token", "latency_ms": 1500}])
    fans = service_account.openids[:2]
    for calls in ((0, 1), (2,)):  # a send task's client, then the next task's
        client = WeChatHook("wechat_test").make_client(rate_share=1.0)
        for n in calls:
            message = {"msgtype": "text", "text": {"content": f"news {n}"}}
            client.send_mass_to_openids(fans, message, clientmsgid=f"p{n}")
    jobs = service_account.admin.mass_jobs(service_account.appid)
    created = sorted(datetime.fromisoformat(job["created_at"]) for job in jobs)
    assert len(created) == 3
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(created)]
    assert min(gaps) >= 0.95  # 60 a minute at most


def test_test_connection_reports_a_wrong_secret(service_account, monkeypatch):
    connection(
        monkeypatch,
        "wechat_bad",
        conn_type="wechat_mp",
        login=service_account.appid,
        password="wrong",
        host=service_account.base_url,
    )
    ok, message = WeChatHook("wechat_bad").test_connection()
    assert not ok and "40125" in message


def test_account_settings_from_extras_with_or_without_the_form_prefix(monkeypatch):
    connection(
        monkeypatch,
        "wechat_sub",
        conn_type="wechat_mp",
        login="wxsub",
        extra={"extra__wechat_mp__account_type": "subscription", "verified": "false", "template_daily_quota": "500"},
    )
    settings = account_settings(WeChatHook("wechat_sub").connection)
    assert settings.account_type.value == "subscription" and settings.verified is False
    assert settings.daily_quota("/cgi-bin/message/template/send") == 500
    assert "subscription" in settings.template_permission_problem()


def test_a_wrong_account_type_names_the_field(monkeypatch):
    connection(monkeypatch, "wechat_odd", conn_type="wechat_mp", login="wx", extra={"account_type": "enterprise"})
    with pytest.raises(ValueError, match="account_type"):
        account_settings(WeChatHook("wechat_odd").connection)


def test_dags_import_cleanly_with_their_conventions():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dags) >= {"wechat_campaign"}
    for dag in bag.dags.values():
        assert dag.doc_md and dag.tags and "wechat" in dag.tags
        for task in dag.tasks:
            assert task.retries >= 0
    campaign = bag.dags["wechat_campaign"]
    assert [t.task_id for t in campaign.topological_sort()] == [
        "validate",
        "wait_until_send_time",
        "resolve_audience",
        "filter_eligible",
        "plan_batches",
        "send",
        "write_history",
    ]
    assert campaign.get_task("send").retries == 2
    assert campaign.get_task("write_history").trigger_rule == "all_done"
    for name, param in campaign.params.items():
        assert param.schema.get("title") and param.description, f"param {name} needs a title and help text"


def test_dag_files_do_no_work_when_parsed():
    """Parsing must not touch a database or the network: no connection is defined in this process."""
    code = "from airflow.dag_processing.dagbag import DagBag; b = DagBag(); print(len(b.dags), b.import_errors)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip().endswith("{}")


def test_airflow_3_idioms():
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "AIR", "dags", "plugins"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout
