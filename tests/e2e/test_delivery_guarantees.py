"""Retries, lost answers, killed workers and quotas: each eligible fan gets the message exactly once
(mass, template) or at most once with ``unknown`` recorded (customer service)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.e2e.send_step import campaign_run, prepare, send
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from wechat_campaigns.campaigns import summary
from wechat_campaigns.domain.clock import SHANGHAI
from wechat_campaigns.store import ledger
from wechat_campaigns.store.fans import add_interactions

pytestmark = pytest.mark.slow

TEMPLATE = {"message_type": "template", "template_id": STANDARD_TEMPLATE, "template_data": ORDER_PAID}


def many_fans(count: int, **fields) -> list[dict]:
    return [{"openid": f"oGuaranteeFan{i:015d}", "tags": ["crowd"], **fields} for i in range(count)]


def test_wechat_errors_and_lost_answers_do_not_duplicate_templates(make_campaign):
    campaign = make_campaign(fans=many_fans(60))
    campaign.account.admin.faults(
        [
            {"endpoint": "/cgi-bin/message/template/send", "errcode": -1, "rate": 0.2, "phase": "before"},
            {"endpoint": "/cgi-bin/message/template/send", "errcode": -1, "rate": 0.1, "phase": "after"},
            {"endpoint": "/cgi-bin/message/template/send", "drop": True, "rate": 0.05, "phase": "after"},
        ],
        seed=7,
    )
    run = campaign.run(**TEMPLATE, tag="crowd")
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received("template") == {fan["openid"]: 1 for fan in many_fans(60)}
    triggered = [rule["triggered"] for rule in campaign.account.admin.get_faults()["rules"]]
    assert all(n > 0 for n in triggered), triggered  # every kind of fault really happened
    assert campaign.history(run)["counts"]["status"] == {"sent": 60}


def test_a_lost_mass_answer_is_recognised_on_retry(make_campaign):
    campaign = make_campaign(fans=many_fans(30))
    campaign.account.admin.faults(
        [{"endpoint": "/cgi-bin/message/mass/send", "drop": True, "count": 1, "phase": "after"}]
    )
    add_capped = [{"openid": many_fans(30)[0]["openid"], "mass_received_this_month": 0}]
    campaign.account.admin.add_fans(campaign.account.appid, fans=add_capped)
    run = campaign.run(message_type="mass", openids=[f["openid"] for f in many_fans(30)], text="hello")
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received("mass") == {fan["openid"]: 1 for fan in many_fans(30)}
    (job,) = campaign.account.admin.mass_jobs(campaign.account.appid)  # one job: the retry got 45065
    assert campaign.history(run)["msg_ids"] == [str(job["msg_id"])]


def test_customer_service_without_an_answer_is_unknown_not_resent(make_campaign):
    fans = many_fans(10, last_interaction={"kind": "text"})
    campaign = make_campaign(fans=fans)
    now = datetime.now(UTC).timestamp()
    add_interactions(
        campaign.engine,
        campaign.account.appid,
        [{"openid": f["openid"], "kind": "text", "at": now - 60, "source": "import"} for f in fans],
    )
    campaign.account.admin.faults(
        [{"endpoint": "/cgi-bin/message/custom/send", "drop": True, "count": 2, "phase": "after"}]
    )
    run = campaign.run(message_type="customer_service", tag="crowd", text="您好")
    assert run.state == "success", campaign.task_states(run)
    received = campaign.received("customer_service")
    assert set(received) == {f["openid"] for f in fans} and set(received.values()) == {1}
    outcomes = campaign.ledger(run)
    unknown = [openid for openid, (status, _) in outcomes.items() if status == "unknown"]
    assert len(unknown) == 2  # delivered, but we could not know: recorded, never sent twice
    assert campaign.history(run)["counts"]["status"] == {"sent": 8, "unknown": 2}


@pytest.mark.parametrize("kind", ["template", "customer_service", "mass"])
def test_a_send_killed_mid_batch_and_retried(kind, sandbox, store_url):
    fans = many_fans(300, last_interaction={"kind": "text"})
    account = make_standard_account(sandbox, fans=fans)
    openids = [f["openid"] for f in fans]
    args = {
        "run_key": f"wechat_campaign/kill-{kind}",
        "store_url": store_url,
        "base_url": account.base_url,
        "appid": account.appid,
        "secret": account.secret,
        "conf": {
            "template": {**TEMPLATE, "tag": "crowd"},
            "customer_service": {"message_type": "customer_service", "tag": "crowd", "text": "您好"},
            "mass": {"message_type": "mass", "openids": openids, "text": "hello"},
        }[kind],
    }
    run = campaign_run(args)
    now = datetime.now(UTC).timestamp()
    add_interactions(
        run.engine, account.appid, [{"openid": o, "kind": "text", "at": now - 60, "source": "import"} for o in openids]
    )
    slices = prepare(run)
    path = {"template": "template/send", "customer_service": "custom/send", "mass": "mass/send"}[kind]
    # Slow WeChat down so that the worker is killed with some sends done and some in flight.
    sandbox.faults([{"endpoint": f"/cgi-bin/message/{path}", "latency_ms": 1500 if kind == "mass" else 40}])
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.send_step", "send", json.dumps({**args, "slices": slices})]
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = sum(sandbox.inbox_counts(account.appid).values())
        if kind == "mass" and ledger.counts(run.engine, run.run_key)[0].get("sending"):
            break  # the mass call is on its way
        if kind != "mass" and done >= 60:
            break
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    time.sleep(2 if kind == "mass" else 0.2)  # answers to the dead worker's calls land at WeChat anyway
    sandbox.clear_faults()

    send(run, slices)  # the task's retry
    result = summary.write_history(run, None)

    received = sandbox.inbox_counts(account.appid)
    assert set(received.values()) == {1}, "nobody gets the message twice"
    if kind == "customer_service":
        assert set(received) <= set(openids)
        assert result["sent"] + result.get("unknown", 0) == 300
        assert result.get("unknown", 0) <= 64  # only the two waves under way (2 x 16 connections x 2) when it died
        assert len(received) >= result["sent"]  # unknown ones may or may not have it: never twice
    else:
        assert set(received) == set(openids)  # exactly once
        assert result["sent"] == 300


def test_quota_exhausted_continues_after_beijing_midnight(make_campaign):
    fans = many_fans(5)
    campaign = make_campaign(
        fans=fans,
        quotas={"/cgi-bin/message/template/send": 3},
        connection_extra={"template_daily_quota": 3},
    )
    almost_midnight = datetime.now(SHANGHAI).replace(hour=23, minute=59, second=52, microsecond=0)
    campaign.account.admin.set_clock(almost_midnight)
    with time_machine.travel(almost_midnight, tick=True):
        run = campaign.run(**TEMPLATE, tag="crowd")
    assert run.state == "success", campaign.task_states(run)
    days = sorted(
        datetime.fromisoformat(campaign.inbox(f["openid"])[0]["at"]).astimezone(SHANGHAI).date() for f in fans
    )
    today = almost_midnight.date()
    assert days == [today] * 3 + [today + timedelta(days=1)] * 2
    assert campaign.history(run)["counts"]["status"] == {"sent": 5}


def test_quota_exhausted_without_continuing_leaves_the_rest_out(make_campaign):
    campaign = make_campaign(
        fans=many_fans(5),
        quotas={"/cgi-bin/message/template/send": 3},
        connection_extra={"template_daily_quota": 3},
    )
    run = campaign.run(**TEMPLATE, tag="crowd", continue_next_day=False)
    assert run.state == "success", campaign.task_states(run)
    assert len(campaign.received("template")) == 3
    assert campaign.history(run)["counts"]["reasons"] == {"excluded:quota_exhausted": 2}


def test_wechat_refusing_for_quota_leaves_the_unsent_out(make_campaign):
    """Our own count does not know of the limit (another system used the quota): WeChat answers 45009."""
    campaign = make_campaign(fans=many_fans(40), quotas={"/cgi-bin/message/template/send": 25})
    run = campaign.run(**TEMPLATE, tag="crowd", continue_next_day=False)
    assert run.state == "success", campaign.task_states(run)
    assert len(campaign.received("template")) == 25
    counts = campaign.history(run)["counts"]
    assert counts["status"] == {"sent": 25, "excluded": 15}
    assert counts["reasons"] == {"excluded:quota_exhausted": 15}


def test_a_second_send_to_all_followers_in_a_beijing_day_waits_for_the_next(make_campaign):
    """WeChat allows a service account one send to all followers a Beijing day (and four a month): the second
    waits in the triggerer until midnight instead of meeting 45028, then goes out."""
    campaign = make_campaign()
    almost_midnight = datetime.now(SHANGHAI).replace(hour=23, minute=59, second=30, microsecond=0)
    campaign.account.admin.set_clock(almost_midnight)
    with time_machine.travel(almost_midnight, tick=True):
        first = campaign.run(message_type="mass", text="早安", dry_run=False)
        second = campaign.run(message_type="mass", text="晚安", dry_run=False)
    assert (first.state, second.state) == ("success", "success"), campaign.task_states(second)
    today = almost_midnight.date()
    for openid in campaign.account.openids:
        days = [datetime.fromisoformat(m["at"]).astimezone(SHANGHAI).date() for m in campaign.inbox(openid)]
        assert sorted(days) == [today, today + timedelta(days=1)]
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), SHANGHAI).timestamp()
    assert campaign.history(second)["started_at"] < midnight  # it started on the first day, and waited
    assert campaign.history(second)["status"] == "completed"
