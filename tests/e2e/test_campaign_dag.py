"""The campaign DAG end to end: what each fan's inbox holds, and what the history says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE
from wechat_campaigns.domain.spec import MessageKind
from wechat_campaigns.store.fans import add_interactions, add_receipts, fan_facts

pytestmark = pytest.mark.slow


def template_conf(**extra):
    return {"message_type": "template", "template_id": STANDARD_TEMPLATE, "template_data": ORDER_PAID, **extra}


def test_template_campaign_to_a_tag(campaign):
    run = campaign.run(**template_conf(tag="vip", url="https://example.com/order"))
    assert run.state == "success", campaign.task_states(run)
    vip, others = campaign.account.openids[:2], campaign.account.openids[2:]
    for openid in vip:
        (message,) = campaign.inbox(openid)
        assert message["kind"] == "template"
        assert message["content"]["data"]["thing1"] == "巧克力礼盒"
    for openid in others:
        assert campaign.inbox(openid) == []
    summary = campaign.history(run)
    assert summary["status"] == "completed"
    assert summary["counts"]["audience"] == 2
    assert summary["counts"]["status"] == {"sent": 2}
    assert summary["audience"] == "tag: vip"


def test_template_values_are_rendered_per_fan(campaign):
    from wechat_campaigns.store.fans import upsert_fans

    first, second = campaign.account.openids[:2]
    upsert_fans(campaign.engine, campaign.account.appid, [{"openid": first, "attributes": {"name": "小王"}}])
    data = {**ORDER_PAID, "thing1": "{{ name | default('会员') }}的礼盒"}
    run = campaign.run(**template_conf(tag="vip", template_data=data))
    assert run.state == "success"
    assert campaign.inbox(first)[0]["content"]["data"]["thing1"] == "小王的礼盒"
    assert campaign.inbox(second)[0]["content"]["data"]["thing1"] == "会员的礼盒"


def test_a_dry_run_shows_which_fans_lack_what_the_message_needs(campaign):
    from wechat_campaigns.store.fans import upsert_fans

    named, nameless = campaign.account.openids[:2]
    upsert_fans(campaign.engine, campaign.account.appid, [{"openid": named, "attributes": {"name": "小王"}}])
    data = {**ORDER_PAID, "thing1": "{{ name }}的礼盒"}  # no default: a fan without a name cannot be sent to
    run = campaign.run(**template_conf(tag="vip", template_data=data, dry_run=True))
    assert run.state == "success", campaign.task_states(run)
    assert campaign.ledger(run) == {named: ("planned", None), nameless: ("failed", "render_error")}
    assert campaign.received() == {}


def test_a_dry_run_says_what_the_send_does_for_a_text_too_long_for_some_fans(campaign):
    """A text that is too long only for a fan with a long name leaves that fan out, in the dry run as in the
    send, without a call WeChat would refuse; the other fans get it."""
    from wechat_campaigns.store.fans import upsert_fans

    long_named, short_named = campaign.account.openids[:2]
    appid, now = campaign.account.appid, datetime.now(UTC)
    for openid, name in ((long_named, "长" * 700), (short_named, "小王")):  # 700 × 3 bytes: over WeChat's 2,048
        upsert_fans(campaign.engine, appid, [{"openid": openid, "attributes": {"name": name}}])
        campaign.account.admin.event(appid, openid, "text", at=now - timedelta(hours=1))
    add_interactions(
        campaign.engine,
        appid,
        [
            {"openid": o, "kind": "text", "at": (now - timedelta(hours=1)).timestamp(), "source": "import"}
            for o in (long_named, short_named)
        ],
    )
    conf = {"message_type": "customer_service", "openids": [long_named, short_named], "text": "{{ name }}，您好"}

    planned = campaign.run(**conf, dry_run=True)
    assert campaign.ledger(planned) == {long_named: ("failed", "content_too_long"), short_named: ("planned", None)}

    sent = campaign.run(**conf)
    assert campaign.ledger(sent) == {long_named: ("failed", "content_too_long"), short_named: ("sent", None)}
    assert campaign.inbox(long_named) == []
    assert [m["content"]["content"] for m in campaign.inbox(short_named)] == ["小王，您好"]
    assert campaign.history(sent)["status"] == "partial"


def test_each_send_task_gets_a_timeout_in_proportion_to_its_slice(campaign):
    """A stuck send task is stopped by Airflow (and retried: the ledger knows who is left) instead of holding
    one of the account's send slots for ever; a big slice gets longer than a small one."""
    run = campaign.run(**template_conf(tag="customers"))
    assert run.state == "success"
    (part,) = campaign.xcom(run, "plan_batches")
    send = campaign.load_dag().get_task("send")
    small = send.unmap({"send_slice": part}).execution_timeout
    big = send.unmap({"send_slice": {**part, "timeout_seconds": None}})
    assert small == timedelta(seconds=part["timeout_seconds"]) and small.total_seconds() >= 600
    assert big.execution_timeout is None  # nothing to go by: Airflow's default
    from wechat_campaigns.domain.plan import slices

    (tiny,), (large, *_) = slices("r", 1, "per_fan", 4, 5, 0.02), slices("r", 100, "per_fan", 4, 100_000, 0.02)
    assert large["timeout_seconds"] - 600 == 25_000 * 0.02 * 3 and tiny["timeout_seconds"] < large["timeout_seconds"]


def test_fans_who_block_templates_are_recorded_and_skipped_next_time(make_campaign):
    campaign = make_campaign()
    blocker = campaign.account.openids[4]
    campaign.account.admin.add_fans(campaign.account.appid, fans=[{"openid": blocker, "blocks_templates": True}])

    first = campaign.run(**template_conf(tag="customers"))
    assert first.state == "success"  # a fan's own refusal does not fail the campaign
    assert campaign.ledger(first)[blocker] == ("failed", "blocked")
    assert campaign.history(first)["counts"]["reasons"] == {"failed:blocked": 1}

    second = campaign.run(**template_conf(tag="customers"))
    assert campaign.ledger(second)[blocker] == ("excluded", "blocked")  # learnt from WeChat's 43101
    assert campaign.inbox(blocker) == []
    assert sum(campaign.received("template").values()) == 8


def test_mass_to_a_tag_with_nobody_left_out_is_one_sendall(campaign):
    run = campaign.run(message_type="mass", tag="vip", material="text/welcome")
    assert run.state == "success", campaign.task_states(run)
    (job,) = campaign.account.admin.mass_jobs(campaign.account.appid)
    assert job["target"]["type"] == "tag"
    for openid in campaign.account.openids[:2]:
        (message,) = campaign.inbox(openid)
        assert message["kind"] == "mass" and "欢迎关注" in message["content"]["content"]
    assert campaign.history(run)["msg_ids"] == [str(job["msg_id"])]
    vip = [openid for openid, (status, _) in campaign.ledger(run).items() if status == "sent"]
    assert len(vip) == job["total"]
    # The job counts against each fan's 4 a month: the next campaign's filter knows it.
    facts = fan_facts(campaign.engine, campaign.account.appid, vip, MessageKind.MASS, datetime.now(UTC))
    assert {fact.mass_this_month for fact in facts.values()} == {1}


def test_mass_leaves_out_fans_at_the_monthly_cap(campaign):
    capped = campaign.account.openids[0]
    now = datetime.now(UTC).timestamp()
    add_receipts(
        campaign.engine,
        campaign.account.appid,
        [
            {"openid": capped, "receipt_key": f"console{i}", "received_at": now - i, "source": "import"}
            for i in range(4)
        ],
    )
    run = campaign.run(message_type="mass", tag="customers", text="Winter menu is out")
    assert run.state == "success", campaign.task_states(run)
    assert campaign.ledger(run)[capped] == ("excluded", "monthly_cap")
    assert campaign.inbox(capped) == []
    (job,) = campaign.account.admin.mass_jobs(campaign.account.appid)
    assert job["target"]["type"] == "openids" and job["total"] == 4  # by list, without the capped fan
    assert campaign.history(run)["counts"]["reasons"] == {"excluded:monthly_cap": 1}


def test_customer_service_reaches_exactly_the_fans_with_an_open_window(campaign):
    fans = campaign.account.openids
    now = datetime.now(UTC)
    add_interactions(
        campaign.engine,
        campaign.account.appid,
        [
            {"openid": fans[0], "kind": "text", "at": (now - timedelta(hours=2)).timestamp(), "source": "import"},
            {"openid": fans[1], "kind": "text", "at": (now - timedelta(hours=50)).timestamp(), "source": "import"},
            {"openid": fans[2], "kind": "view", "at": (now - timedelta(minutes=1)).timestamp(), "source": "import"},
        ],
    )
    for openid, hours in ((fans[0], 2), (fans[1], 50)):
        campaign.account.admin.event(campaign.account.appid, openid, "text", at=now - timedelta(hours=hours))
    run = campaign.run(message_type="customer_service", tag="customers", text="您好 {{ openid[-4:] }}")
    assert run.state == "success", campaign.task_states(run)
    (message,) = campaign.inbox(fans[0])
    assert message["kind"] == "customer_service" and message["content"]["content"] == f"您好 {fans[0][-4:]}"
    for openid in fans[1:]:
        assert campaign.inbox(openid) == []
    assert campaign.history(run)["counts"]["reasons"] == {"excluded:outside_48h": 4}


def test_openid_list_with_duplicates(campaign):
    a, b, c = campaign.account.openids[:3]
    run = campaign.run(**template_conf(openids=[a, b, a, c, a]))
    assert run.state == "success"
    assert sorted(campaign.received("template")) == sorted([a, b, c])
    counts = campaign.history(run)["counts"]
    assert counts["audience"] == 5 and counts["reasons"] == {"excluded:duplicate": 2}


def test_dry_run_sends_nothing_and_reports_the_forecast(campaign):
    run = campaign.run(message_type="mass", material="text/welcome", dry_run=True)
    assert run.state == "success"
    assert campaign.received() == {}
    summary = campaign.history(run)
    assert summary["status"] == "dry_run" and summary["counts"]["status"] == {"planned": 5}
    assert campaign.account.admin.mass_jobs(campaign.account.appid) == []


def test_preview_goes_only_to_the_test_fans(campaign):
    tester = campaign.account.openids[3]
    run = campaign.run(message_type="mass", tag="vip", material="text/welcome", preview_openids=[tester])
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received() == {tester: 1}
    assert campaign.inbox(tester)[0]["kind"] == "preview"


def test_scheduled_send_waits_for_its_time(campaign):
    send_at = datetime.now(UTC) + timedelta(seconds=8)
    run = campaign.run(**template_conf(tag="vip", send_at=send_at.isoformat()))
    assert run.state == "success", campaign.task_states(run)
    (message,) = campaign.inbox(campaign.account.openids[0])
    assert datetime.fromisoformat(message["at"]) >= send_at - timedelta(seconds=1)
    assert campaign.history(run)["scheduled_for"] == pytest.approx(send_at.timestamp())


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"message_type": "mass", "tag": "nobody", "text": "hi"}, "tag"),
        (
            {"message_type": "template", "template_id": "not-ours", "tag": "vip", "template_data": ORDER_PAID},
            "template_id",
        ),
        ({"message_type": "template", "template_id": STANDARD_TEMPLATE, "template_data": {"thing1": "x"}}, "time4"),
        ({"message_type": "mass", "material": "text/no_such_material"}, "material"),
        ({"message_type": "mass", "text": "hi", "send_at": "2020-01-01T00:00"}, "send_at"),
        ({"message_type": "mass", "text": "hi", "wechat_conn_id": "no_such_account"}, "wechat_conn_id"),
    ],
)
def test_bad_conf_is_rejected_naming_the_field_and_sends_nothing(campaign, conf, field):
    run = campaign.run(**conf)
    assert run.state == "failed"
    states = campaign.task_states(run)
    assert states["validate"] == "failed" and states["write_history"] == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "rejected" and field in summary["error"]
    assert campaign.received() == {}


@pytest.fixture
def pg_campaign(campaign_dag, sandbox, pg_store_url, monkeypatch):
    import json

    from tests.e2e.conftest import CampaignHarness, connect
    from tests.fixtures.sandbox import make_standard_account

    account = make_standard_account(sandbox)
    connect(monkeypatch, account, "sqlite:///unused")
    database = pg_store_url.rsplit("/", 1)[1]
    store = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": database}
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_STORE", json.dumps(store))
    return CampaignHarness(campaign_dag, account, pg_store_url)


def test_campaigns_with_the_store_on_postgres(pg_campaign):
    mass = pg_campaign.run(message_type="mass", tag="vip", material="text/welcome")
    template = pg_campaign.run(**template_conf(tag="customers"))
    assert (mass.state, template.state) == ("success", "success")
    assert pg_campaign.history(template)["counts"]["status"] == {"sent": 5}
    assert pg_campaign.received("mass") == {o: 1 for o in pg_campaign.account.openids[:2]}
    assert pg_campaign.received("template") == {o: 1 for o in pg_campaign.account.openids}


def test_mass_to_all_followers_with_nobody_left_out_is_one_send_to_all(campaign):
    run = campaign.run(message_type="mass", material="text/welcome", dry_run=False)  # said explicitly
    assert run.state == "success", campaign.task_states(run)
    (job,) = campaign.account.admin.mass_jobs(campaign.account.appid)
    assert job["target"] == {"type": "all"}
    assert campaign.received("mass") == {o: 1 for o in campaign.account.openids}


def test_sends_keep_to_the_accounts_rate_limit(make_campaign):
    fans = [{"openid": f"oRateFan{i:020d}", "tags": ["crowd"]} for i in range(40)]
    campaign = make_campaign(fans=fans, connection_extra={"rate_limit": 20, "send_slots": 1})
    run = campaign.run(**template_conf(tag="crowd"))
    assert run.state == "success"
    times = sorted(datetime.fromisoformat(campaign.inbox(f["openid"])[0]["at"]) for f in fans)
    # 40 sends at 20/s (after a burst of 2) cannot take less than about 1.9 s, whatever the machine.
    assert (times[-1] - times[0]).total_seconds() >= 1.8


def test_a_refusal_of_the_content_fails_the_run_and_says_why(campaign):
    campaign.account.admin.faults([{"endpoint": "/cgi-bin/message/template/send", "errcode": 40037, "count": 1}])
    run = campaign.run(**template_conf(tag="customers"))
    assert run.state == "failed"
    states = campaign.task_states(run)
    assert states["send[0]"] == "failed" and states["write_history"] == "failed"
    summary = campaign.history(run)
    assert summary["counts"]["reasons"]["failed:invalid_template"] == 1
    # the send stopped instead of hammering WeChat: 1 refused, at most one wave in flight with it
    sent = sum(campaign.received("template").values())
    assert sent < 5
    assert summary["status"] == ("partial" if sent else "failed")  # the fans in flight with it may have it
    assert summary["error"].startswith(f"{sent} of 5 sent") and "invalid_template ×1" in summary["error"]


def test_a_mass_send_to_all_followers_is_a_dry_run_unless_said_otherwise(campaign):
    run = campaign.run(message_type="mass", material="text/welcome")
    assert run.state == "success"
    assert campaign.history(run)["status"] == "dry_run" and campaign.received() == {}


def test_a_large_send_waits_for_confirmation(make_campaign):
    campaign = make_campaign(connection_extra={"confirm_threshold": 3})
    refused = campaign.run(**template_conf(tag="customers"))
    assert refused.state == "failed"
    summary = campaign.history(refused)
    assert summary["status"] == "rejected" and summary["error"].startswith("confirm_large_send: 5 fans")
    assert campaign.received() == {}
    confirmed = campaign.run(**template_conf(tag="customers", confirm_large_send=True))
    assert confirmed.state == "success" and len(campaign.received("template")) == 5
