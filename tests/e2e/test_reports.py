"""WeChat's job-finish reports at campaign volume: a 10,000-fan template campaign against a sandbox that pushes
each TEMPLATESENDJOBFINISH the moment it answers the send (as WeChat does, within a second), to the receiver
running on its own (``wechat-campaigns serve-callbacks``), on SQLite and PostgreSQL. Every report counts,
whichever comes first, the report or our record of the send; retried and reordered pushes change nothing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.e2e.conftest import CampaignHarness, store_connection
from tests.fixtures.airflow import free_port, wait_until_up
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from wechat_campaigns.store.schema import callback_events, fans

pytestmark = pytest.mark.slow

CONN_ID, TOKEN = "wechat_reports", "reports-callback-token"
FANS, BLOCKING = 10_000, 150  # BLOCKING fans refuse templates after the send was accepted (failed:user block)


def account_connection(appid: str, secret: str, sandbox_url: str) -> str:
    extra = {
        "account_type": "service",
        "verified": True,
        "callback_token": TOKEN,
        "confirm_threshold": 100_000,
        "rate_limit": 400,  # the sandbox pushes as fast as it sends: keep both within a test's half-minute
        "send_slots": 1,  # dag.test() runs the send tasks one after the other: each may take the whole rate
    }
    return json.dumps(
        {"conn_type": "wechat_mp", "login": appid, "password": secret, "host": sandbox_url, "extra": extra}
    )


@pytest.fixture
def reports_campaign(campaign_dag, sandbox, any_store_url, monkeypatch, tmp_path):
    """A 10,000-fan account whose callback URL is a ``serve-callbacks`` receiver on the test's store."""
    account_env = {
        "AIRFLOW_CONN_WECHAT_STORE": json.dumps(store_connection(any_store_url)),
        f"AIRFLOW_CONN_{CONN_ID.upper()}": None,  # filled in below, once the account exists
    }
    port = free_port()
    blocking = [
        {"openid": f"oBlocksTemplates{i:012d}", "tags": ["crowd"], "blocks_templates": "async"} for i in range(BLOCKING)
    ]
    account = make_standard_account(
        sandbox,
        appid="wxreportsatvolume01",
        callback_url=f"http://127.0.0.1:{port}/wechat/callback/{CONN_ID}",
        token=TOKEN,
        template_report_delay=0,
        fans=blocking,
        fan_groups=[{"count": FANS - BLOCKING, "prefix": "oReports", "tags": ["crowd"]}],
    )
    account_env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = account_connection(account.appid, account.secret, account.base_url)
    for name, value in account_env.items():
        monkeypatch.setenv(name, value)
    log = tmp_path / "receiver.log"
    cli = Path(sys.executable).with_name("wechat-campaigns")
    with log.open("w") as out:
        receiver = subprocess.Popen(
            [str(cli), "serve-callbacks", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **account_env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", receiver, log, health="/health")
        yield CampaignHarness(campaign_dag, account, any_store_url)
    finally:
        receiver.terminate()
        receiver.wait(30)


def answered_pushes(admin, appid: str, count: int, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pushes = admin.callbacks(appid, event="TEMPLATESENDJOBFINISH")
        if len(pushes) >= count and all(p["status"] != "pending" for p in pushes):
            return pushes
        time.sleep(0.5)
    raise AssertionError(f"{len(pushes)} pushes, {Counter(p['status'] for p in pushes)}")


def history_json(store_url: str, run_key: str) -> dict:
    cli = Path(sys.executable).with_name("wechat-campaigns")
    answer = subprocess.run(
        [str(cli), "--store", store_url, "history", run_key, "--json", "--limit", str(FANS)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout)


def test_every_report_of_a_10000_fan_template_campaign_counts_whichever_comes_first(reports_campaign):
    campaign = reports_campaign
    admin, appid = campaign.account.admin, campaign.account.appid
    run = campaign.run(
        message_type="template",
        wechat_conn_id=CONN_ID,
        tag="crowd",
        template_id=STANDARD_TEMPLATE,
        template_data=ORDER_PAID,
    )
    assert run.state == "success", campaign.task_states(run)
    pushes = answered_pushes(admin, appid, FANS)
    assert Counter(p["status"] for p in pushes) == {"delivered": FANS}, [
        p["attempts"] for p in pushes if p["status"] != "delivered"
    ][:3]
    said = Counter(p["xml"].split("<Status><![CDATA[")[1].split("]]>")[0] for p in pushes)
    assert said == {"success": FANS - BLOCKING, "failed:user block": BLOCKING}

    run_key = f"{run.dag_id}/{run.run_id}"
    shown = history_json(campaign.store_url, run_key)
    deliveries = Counter(r["delivery"] for r in shown["recipients"])
    assert deliveries == {"success": FANS - BLOCKING, "failed:user block": BLOCKING}  # not one report lost
    assert shown["run"]["delivery"] == {"delivered": FANS - BLOCKING, "not_delivered": {"user_block": BLOCKING}}
    blocked = {r["openid"] for r in shown["recipients"] if r["delivery"] == "failed:user block"}
    assert blocked == {f"oBlocksTemplates{i:012d}" for i in range(BLOCKING)}
    with campaign.engine.connect() as connection:  # and later campaigns leave them out
        flagged = set(
            connection.scalars(sa.select(fans.c.openid).where(fans.c.appid == appid, fans.c.blocks_templates))
        )
    assert flagged == blocked

    # WeChat retries, late and out of order: nothing changes twice.
    kept = stored_events(campaign.engine, appid)
    again = random.Random(7).sample(pushes, 300)
    for push in reversed(again):
        answer = requests.post(push["url"], data=push["body"].encode(), timeout=10)
        assert (answer.status_code, answer.text) == (200, "success")
    assert stored_events(campaign.engine, appid) == kept
    shown_again = history_json(campaign.store_url, run_key)
    assert Counter(r["delivery"] for r in shown_again["recipients"]) == deliveries


def stored_events(engine, appid: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            sa.select(sa.func.count()).select_from(callback_events).where(callback_events.c.appid == appid)
        )
