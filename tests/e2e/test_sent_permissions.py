"""The Sent pages follow Airflow's permissions: a user sees a run, its fans and its CSV only with read access
to the run's DAG, as the configured auth manager decides (here a manager that keeps one viewer off the
campaign DAGs)."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.restricted_auth import OUTSIDER
from wechat_campaigns.store import history, ledger
from wechat_campaigns.store.db import engine_for

pytestmark = pytest.mark.slow

CAMPAIGN = "wechat_campaign/manual__permissions"
OTHER = "partner_export/manual__permissions"  # a DAG the outsider may read


@pytest.fixture
def two_runs(restricted_api_server):
    engine = engine_for(restricted_api_server.store_url)
    for key in (CAMPAIGN, OTHER):
        dag_id, _, run_id = key.partition("/")
        history.save_run(engine, key, status="completed", kind="template", dag_id=dag_id, dag_run_id=run_id)
        ledger.add_recipients(engine, key, [f"oPermissionFan{i:014d}" for i in range(3)])
    return restricted_api_server


def session_of(server, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {server.token(username, password)}"
    return session


def listed(server, session) -> set[str]:
    answer = session.get(f"{server.url}/wechat/sent/api/runs", timeout=10)
    assert answer.status_code == 200, answer.text
    return {r["run_key"] for r in answer.json()["runs"]}


def test_a_user_without_read_access_to_the_campaign_dag_sees_none_of_its_runs(two_runs):
    server = two_runs
    outsider = session_of(server, OUTSIDER, "outsider-password")
    assert CAMPAIGN not in listed(server, outsider) and OTHER in listed(server, outsider)
    for path in ("/wechat/sent/api/run", "/wechat/sent/run", "/wechat/sent/run.csv"):
        answer = outsider.get(server.url + path, params={"key": CAMPAIGN, "recipients": 1}, timeout=10)
        assert answer.status_code == 404 and "oPermissionFan" not in answer.text, path
    assert outsider.get(f"{server.url}/wechat/sent/run.csv", params={"key": OTHER}, timeout=10).status_code == 200


def test_a_user_with_read_access_sees_the_run_and_its_fans(two_runs):
    server = two_runs
    marketer = session_of(server, "marketer", "sent-page-test-password")
    assert {CAMPAIGN, OTHER} <= listed(server, marketer)
    csv = marketer.get(f"{server.url}/wechat/sent/run.csv", params={"key": CAMPAIGN}, timeout=10)
    assert csv.status_code == 200 and csv.text.count("oPermissionFan") == 3


def test_a_user_without_read_access_cannot_cancel_the_campaigns_runs(two_runs):
    server = two_runs
    outsider = session_of(server, OUTSIDER, "outsider-password")
    answer = outsider.post(f"{server.url}/wechat/sent/cancel", data={"key": CAMPAIGN}, timeout=10)
    assert answer.status_code == 404
    assert history.get_run(engine_for(server.store_url), CAMPAIGN)["status"] == "completed"
