"""Production set-up (#14): one campaign store for every worker or a clear stop; migrations are an operator's
step that tasks, the API server and *Test connection* only check; *Test connection* proves the account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.fixtures.airflow import CALLBACK_ACCOUNTS, started_api_server
from tests.integration.test_airflow_integration import connection
from tests.integration.test_callback_endpoint import fresh, sign, text_xml
from wechat_campaigns.integration.hook import WeChatHook, ready_store
from wechat_campaigns.store.db import SchemaMismatch, StoreNotConfigured, engine_for, upgrade

CLI = str(Path(sys.executable).with_name("wechat-campaigns"))
NO_STORE = "no 'wechat_store' connection, and the executor CeleryExecutor runs tasks on several machines"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=os.environ.copy(), check=False)


def account_connection(monkeypatch, account, name: str = "wechat_test", extra: dict | None = None) -> None:
    fields = {"login": account.appid, "password": account.secret, "host": account.base_url}
    connection(monkeypatch, name, conn_type="wechat_mp", **fields, **({"extra": extra} if extra else {}))


def store_connection(monkeypatch, url: str) -> None:
    connection(monkeypatch, "wechat_store", conn_type="sqlite", host=url.removeprefix("sqlite:///"))


def behind(tmp_path) -> str:
    """A store an older release migrated: one revision before this code's."""
    from alembic.script import ScriptDirectory

    from wechat_campaigns.store.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config())
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, script.get_revision(script.get_current_head()).down_revision)
    return url


# -- one store for every worker --------------------------------------------------------------------------------


def test_a_distributed_executor_without_wechat_store_stops_naming_it(monkeypatch, tmp_path, service_account):
    """On Celery each worker would keep its own SQLite ledger and token: tasks, the CLI and Test connection stop,
    saying what to set, and no private store is made."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.delenv("AIRFLOW_CONN_WECHAT_STORE", raising=False)
    account_connection(monkeypatch, service_account)
    with pytest.raises(StoreNotConfigured, match=NO_STORE) as stopped:
        ready_store()
    assert "AIRFLOW_CONN_WECHAT_STORE='postgres://" in str(stopped.value)
    ok, message = WeChatHook("wechat_test").test_connection()
    assert not ok and NO_STORE in message
    done = cli("history")
    assert done.returncode == 2 and NO_STORE in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "wechat_campaigns.db").exists()
    assert service_account.admin.stats(service_account.appid)["total_calls"] == 0  # not even a token was fetched


def test_on_one_machine_the_embedded_store_migrates_itself_and_says_where(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    monkeypatch.delenv("AIRFLOW_CONN_WECHAT_STORE", raising=False)
    caplog.set_level("INFO", logger="wechat_campaigns.integration.hook")
    url = ready_store()
    assert url == f"sqlite:///{tmp_path / 'wechat_campaigns.db'}"
    with engine_for(url).connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 0  # the schema is there
    assert f"the embedded SQLite file {tmp_path / 'wechat_campaigns.db'}" in caplog.text


@pytest.mark.slow
def test_the_sent_page_and_the_callback_url_answer_503_without_a_shared_store(airflow_db, sandbox_process, tmp_path):
    env = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW_CONN_WECHAT_STORE": None}
    with started_api_server(tmp_path, sandbox_process, env) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {server.token()}"
        page = session.get(f"{server.url}/wechat/sent/api/runs", timeout=30)
        assert page.status_code == 503 and NO_STORE in page.json()["detail"]
        account = CALLBACK_ACCOUNTS["plain"]
        timestamp, nonce = fresh()
        push = requests.post(
            f"{server.url}/wechat/callback/{account.conn_id}",
            params={"signature": sign(account.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce},
            data=text_xml("9001"),
            timeout=30,
        )
        assert push.status_code == 503  # WeChat tries again; the reason is in the server's log, not the answer
        assert "wechat_store" not in push.text
        assert NO_STORE in server.log.read_text()


# -- migrations are an operator's step --------------------------------------------------------------------------


def test_a_store_behind_this_code_is_refused_until_an_operator_migrates_it(monkeypatch, tmp_path, service_account):
    old = behind(tmp_path)
    store_connection(monkeypatch, old)
    account_connection(monkeypatch, service_account)
    with pytest.raises(SchemaMismatch, match=r"this code needs .*: run `wechat-campaigns migrate`"):
        ready_store()
    ok, message = WeChatHook("wechat_test").test_connection()
    assert not ok and "run `wechat-campaigns migrate`" in message
    refused = cli("history")
    assert refused.returncode == 2 and "run `wechat-campaigns migrate`" in refused.stderr
    migrated = cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert cli("history").returncode == 0
    assert ready_store() == old
    assert WeChatHook("wechat_test").test_connection()[0]


def test_a_store_migrated_by_a_newer_release_is_refused(monkeypatch, any_store_url):
    """In the middle of a rolling deploy the old workers must not write into the new schema."""
    with engine_for(any_store_url).begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'"))
    if any_store_url.startswith("sqlite"):
        store_connection(monkeypatch, any_store_url)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_WECHAT_STORE", any_store_url.replace("postgresql+psycopg2", "postgres"))
    with pytest.raises(SchemaMismatch, match="at revision 0099_from_a_newer_release, newer than this code knows"):
        ready_store()


# -- Test connection in the UI -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_test_connection_in_the_ui_proves_the_account_and_names_the_ip_whitelist(api_server, sandbox):
    """Through Airflow's REST API, as the connection form's *Test* button calls it (``[core] test_connection``
    is ``Enabled`` on this server)."""
    from tests.fixtures.sandbox import make_standard_account

    account = make_standard_account(sandbox)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_server.token()}"

    def test(**fields) -> dict:
        body = {"connection_id": "wechat_form", "conn_type": "wechat_mp", "login": account.appid}
        body.update(password=account.secret, host=account.base_url, extra=json.dumps({"account_type": "service"}))
        answer = session.post(f"{api_server.url}/api/v2/connections/test", json={**body, **fields}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    proved = test()
    assert proved["status"] and proved["message"].startswith(f"Connected to {account.appid}: "), proved
    wrong = test(password="not-the-secret")
    assert not wrong["status"] and "40125" in wrong["message"]
    sandbox.update_account(account.appid, ip_whitelist=["10.1.2.3"])
    refused = test()
    assert not refused["status"] and "40164" in refused["message"]
    assert "IP whitelist" in refused["message"] and "invalid ip 127.0.0.1" in refused["message"]


def test_a_long_lived_process_notices_a_newer_release_within_a_minute(store_url, monkeypatch):
    """The API server checks the schema again at most a minute after it last did, not only at its start."""
    import time

    from wechat_campaigns.store import db

    db.ready(store_url)
    with engine_for(store_url).begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'"))
    db.ready(store_url)  # checked moments ago: not asked again
    later = time.monotonic() + db.SCHEMA_RECHECK_SECONDS + 1
    monkeypatch.setattr(db.time, "monotonic", lambda: later)
    with pytest.raises(SchemaMismatch, match="newer than this code knows"):
        db.ready(store_url)
