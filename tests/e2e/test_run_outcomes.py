"""How a campaign run ends, as a marketer sees it: the Airflow run, the history's status and error, the fans'
inboxes. Statuses never lie (docs/architecture.md, *Guarantees*): a run that sent nothing because a step failed
is `failed`, a run that partly failed is `partial`, a refused one is `rejected`."""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import quote

import pytest

from tests.e2e.conftest import CampaignHarness, connect
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from tests.integration.test_store_setup import behind, store_connection
from wechat_campaigns.store.fans import upsert_fans

pytestmark = pytest.mark.slow

TEMPLATE_SEND = "/cgi-bin/message/template/send"
CLIENT_ATTEMPTS = 5  # WeChatClient's max_attempts: how often a call that meets -1 is made


def template_conf(**extra):
    return {"message_type": "template", "template_id": STANDARD_TEMPLATE, "template_data": ORDER_PAID, **extra}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once the probe closes: nothing listens there


def point_wechat_at(monkeypatch, base_url: str) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_WECHAT_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_DEFAULT", json.dumps({**connection, "host": base_url}))


def test_completed(campaign):
    run = campaign.run(**template_conf(tag="vip"))
    assert run.state == "success", campaign.task_states(run)
    summary = campaign.history(run)
    assert (summary["status"], summary["error"]) == ("completed", None)
    assert summary["counts"]["status"] == {"sent": 2}
    assert campaign.received("template") == {openid: 1 for openid in campaign.account.openids[:2]}


def test_rejected_names_the_field(campaign):
    run = campaign.run(**template_conf(tag="VIP"))
    assert run.state == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "rejected" and summary["error"].startswith("tag: no fan tag named 'VIP'")
    assert campaign.received() == {}


def test_a_refusal_is_said_first_in_the_log_with_the_sent_page_and_one_traceback_at_most(campaign, capfd, caplog):
    """What a marketer who opens the red run's log reads: validate's first error is the refusal naming the field
    and where the Sent page shows the run; write_history, which has nothing to add, adds no traceback."""
    capfd.readouterr()
    run = campaign.run(**template_conf(tag="VIP"))
    airflow_log = capfd.readouterr().out  # dag.test() runs the tasks here: Airflow's own lines come out here,
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]  # and the tasks' through logging
    assert run.state == "failed"
    assert errors[0].startswith("campaign rejected: tag: no fan tag named 'VIP' in this account"), errors
    sent_page = f"/wechat/sent/run?key={quote(run.dag_id + '/' + run.run_id, safe='')}"
    assert sent_page in errors[1]
    assert airflow_log.count("Traceback (most recent call last)") == 1, airflow_log  # validate's, not write_history's
    assert "The above exception was the direct cause" not in airflow_log  # no InvalidCampaign chained under it
    assert campaign.history(run)["status"] == "rejected"


def test_wechat_unreachable_at_validate_fails_the_run_and_says_where(make_campaign, monkeypatch):
    campaign = make_campaign(connection_extra={"retry_max_wait": 0.01})
    point_wechat_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    run = campaign.run_retrying_at_once(**template_conf(tag="vip", name="Winter order notice"))
    assert run.state == "failed"
    assert campaign.task_states(run)["validate"] == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "failed"
    assert summary["error"].startswith("validate failed: WeChat /cgi-bin/stable_token: no usable answer")
    # the row describes the run although validate never got to open it
    assert (summary["name"], summary["kind"], summary["audience"]) == ("Winter order notice", "template", "tag: vip")
    assert campaign.received() == {}


def test_a_step_that_fails_once_and_then_succeeds_leaves_no_stale_error(make_campaign):
    campaign = make_campaign(connection_extra={"retry_max_wait": 0.01})
    tags = {"endpoint": "/cgi-bin/tags/get", "errcode": -1, "count": CLIENT_ATTEMPTS}  # validate's first try only
    campaign.account.admin.faults([tags])
    run = campaign.run_retrying_at_once(**template_conf(tag="vip"))
    assert run.state == "success", campaign.task_states(run)
    summary = campaign.history(run)
    assert (summary["status"], summary["error"]) == ("completed", None)
    assert len(campaign.received("template")) == 2


def test_a_tag_too_long_for_the_store_gets_the_same_answer_on_sqlite_and_postgres(any_campaign):
    run = any_campaign.run(**template_conf(tag="t" * 300))
    assert run.state == "failed"
    summary = any_campaign.history(run)
    assert summary["status"] == "rejected"
    assert summary["error"] == "tag: 300 characters; the store keeps at most 295"
    assert any_campaign.received() == {}


@pytest.fixture
def pg_campaign(campaign_dag, sandbox, pg_store_url, monkeypatch) -> CampaignHarness:
    account = make_standard_account(sandbox)
    connect(monkeypatch, account, pg_store_url)
    return CampaignHarness(campaign_dag, account, pg_store_url)


def test_values_too_long_for_the_store_are_refused_on_postgres_naming_each_field(pg_campaign):
    campaign = pg_campaign
    run = campaign.run(**template_conf(tag="vip", template_id="x" * 300, name="n" * 201))
    assert run.state == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "rejected"
    assert summary["error"] == (
        "name: 201 characters; the store keeps at most 200; template_id: 300 characters; the store keeps at most 291"
    )


def test_every_fan_failing_fails_the_run(make_campaign):
    campaign = make_campaign(connection_extra={"retry_max_wait": 0.01})
    campaign.account.admin.faults([{"endpoint": TEMPLATE_SEND, "errcode": -1}])  # WeChat busy, every time
    run = campaign.run_retrying_at_once(**template_conf(tag="customers"))
    assert run.state == "failed"
    states = campaign.task_states(run)
    assert states["send[0]"] == "failed" and states["write_history"] == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "failed"
    assert summary["error"].startswith("0 of 5 sent; 5 not sent: send task failed or stopped ×5")
    assert "send[0] failed: WeChat /cgi-bin/message/template/send errcode -1" in summary["error"]
    assert campaign.received() == {}


def test_a_template_deleted_while_the_campaign_sends_leaves_the_run_partial(make_campaign):
    campaign = make_campaign(connection_extra={"send_concurrency": 1})  # one call at a time, in ledger order
    # With seed 0 the first two calls pass and the third meets WeChat's 40037: the sends stop there.
    deleted = {"endpoint": TEMPLATE_SEND, "errcode": 40037, "rate": 0.5, "count": 1}
    campaign.account.admin.faults([deleted], seed=0)
    run = campaign.run(**template_conf(tag="customers"))
    assert run.state == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "partial"
    assert summary["error"].startswith("2 of 5 sent; 3 not sent: invalid_template ×1, send task failed or stopped ×2")
    assert summary["counts"]["status"] == {"sent": 2, "failed": 1, "pending": 2}
    assert campaign.received("template") == {openid: 1 for openid in campaign.account.openids[:2]}


def test_fans_whose_message_does_not_render_leave_the_run_partial(campaign):
    named, nameless = campaign.account.openids[:2]
    upsert_fans(campaign.engine, campaign.account.appid, [{"openid": named, "attributes": {"name": "小王"}}])
    run = campaign.run(**template_conf(tag="vip", template_data={**ORDER_PAID, "thing1": "{{ name }}的礼盒"}))
    assert run.state == "failed"
    summary = campaign.history(run)
    assert (summary["status"], summary["error"]) == ("partial", "1 of 2 sent; 1 not sent: render_error ×1")
    assert campaign.received("template") == {named: 1}
    assert campaign.inbox(nameless) == []


def test_a_campaign_against_a_store_not_migrated_stops_at_once_and_sends_nothing(make_campaign, tmp_path, monkeypatch):
    campaign = make_campaign()
    store_connection(monkeypatch, behind(tmp_path))  # an operator has not run `wechat-campaigns migrate`
    run = campaign.run(message_type="mass", tag="vip", text="hi")
    assert run.state == "failed"
    states = campaign.task_states(run)
    assert states["validate"] == "failed"
    assert all(state in (None, "upstream_failed") for key, state in states.items() if key.startswith("send"))
    (validate,) = [ti for ti in run.get_task_instances() if ti.task_id == "validate"]
    assert validate.try_number == 1  # not retried: only an operator can fix it
    assert campaign.received() == {}
