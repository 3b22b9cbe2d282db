"""The sandbox pushes real signed (and encrypted) callbacks to the endpoint served by the Airflow API server;
the store shows what they said, and campaigns act on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import CALLBACK_FANS as FANS
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE
from wechat_campaigns.store.schema import callback_events, fans, interactions

pytestmark = pytest.mark.slow


def wait_for_pushes(admin, appid, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [c for c in admin.callbacks(appid) if c["status"] in ("delivered", "failed")]
        if len(done) >= count:
            return done
        time.sleep(0.1)
    state = (admin.callbacks(appid), admin.account(appid), admin.mass_jobs(appid))
    raise AssertionError(f"only {len(done)} of {count} pushes answered: {state}")


def interactions_of(engine, appid):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(interactions.c.openid, interactions.c.kind).where(interactions.c.appid == appid)
        ).all()
    return sorted((row.openid, row.kind) for row in rows)


def test_the_url_check_of_the_wechat_console(callback_campaign):
    campaign = callback_campaign("plain")
    answer = campaign.account.admin.verify_callback(campaign.account.appid)
    assert answer["ok"] and answer["body"] == answer["echostr"]


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_user_actions_become_interactions_in_every_mode(callback_campaign, mode):
    campaign = callback_campaign(mode)
    admin, appid = campaign.account.admin, campaign.account.appid
    admin.event(appid, FANS[0], "text", content="你好")
    admin.event(appid, FANS[1], "click", event_key="MENU_COUPON")
    admin.event(appid, FANS[2], "view", event_key="https://example.com")
    admin.event(appid, FANS[3], "subscribe_qr", scene="poster42")
    admin.event(appid, FANS[4], "scan", scene="poster42")
    admin.event(appid, FANS[5], "location_event")
    pushes = wait_for_pushes(admin, appid, 6)
    assert {p["attempts"][-1]["response"] for p in pushes} == {"success"}
    assert interactions_of(campaign.engine, appid) == sorted(
        [(FANS[0], "text"), (FANS[1], "click"), (FANS[3], "subscribe_qr"), (FANS[4], "scan")]
    )  # VIEW and LOCATION open no customer-service window
    with campaign.engine.connect() as connection:
        kept = connection.scalar(
            sa.select(sa.func.count()).select_from(callback_events).where(callback_events.c.appid == appid)
        )
    assert kept == 6  # every push is kept, the ones that open nothing too


def test_unsubscribe_is_remembered_and_respected(callback_campaign):
    campaign = callback_campaign("safe")
    admin, appid = campaign.account.admin, campaign.account.appid
    admin.event(appid, FANS[2], "unsubscribe")
    wait_for_pushes(admin, appid, 1)
    with campaign.engine.connect() as connection:
        assert connection.scalar(sa.select(fans.c.subscribed).where(fans.c.openid == FANS[2])) is False
    run = campaign.run(
        message_type="template",
        wechat_conn_id=campaign.conn_id,
        openids=FANS[:3],
        template_id=STANDARD_TEMPLATE,
        template_data=ORDER_PAID,
    )
    assert run.state == "success"
    assert campaign.ledger(run)[FANS[2]] == ("excluded", "unsubscribed")


def test_customer_service_reaches_exactly_the_fans_whose_window_the_callbacks_opened(callback_campaign):
    campaign = callback_campaign("safe")
    admin, appid = campaign.account.admin, campaign.account.appid
    admin.event(appid, FANS[0], "text", content="还有优惠吗")
    admin.event(appid, FANS[1], "text", content="在吗", at=datetime.now(UTC) - timedelta(hours=49))
    admin.event(appid, FANS[2], "view", event_key="https://example.com")
    wait_for_pushes(admin, appid, 3)
    run = campaign.run(message_type="customer_service", wechat_conn_id=campaign.conn_id, tag="crowd", text="有的！")
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received("customer_service") == {FANS[0]: 1}
    assert campaign.history(run)["counts"]["reasons"] == {"excluded:outside_48h": 5}


@pytest.mark.parametrize("finish_delay", [0.05, 0], ids=["reported later", "reported at once"])
def test_mass_job_finish_fills_in_wechats_figures(callback_campaign, finish_delay):
    """WeChat may report the job as soon as it is done (the store-level race is in test_report_order.py)."""
    campaign = callback_campaign("compat", mass_finish_delay=finish_delay)
    admin, appid = campaign.account.admin, campaign.account.appid
    admin.add_fans(appid, fans=[{"openid": FANS[5], "mass_received_this_month": 4}])  # a console send we never saw
    run = campaign.run(message_type="mass", wechat_conn_id=campaign.conn_id, tag="crowd", text="冬季上新")
    assert run.state == "success"
    wait_for_pushes(admin, appid, 1)
    report = campaign.history(run)["wechat_report"]
    assert report["jobs_reported"] == 1 and report["total"] == 6
    assert report["sent"] == 5 and report["filter"] == 5  # WeChat filtered the capped fan; we could not know


def test_template_job_finish_updates_the_recipients_delivery(callback_campaign):
    campaign = callback_campaign("plain")
    admin, appid = campaign.account.admin, campaign.account.appid
    admin.add_fans(appid, fans=[{"openid": FANS[1], "blocks_templates": "async"}])
    run = campaign.run(
        message_type="template",
        wechat_conn_id=campaign.conn_id,
        openids=FANS[:3],
        template_id=STANDARD_TEMPLATE,
        template_data=ORDER_PAID,
    )
    assert run.state == "success"
    wait_for_pushes(admin, appid, 3)
    from wechat_campaigns.store import ledger

    rows = ledger.recipients_page(campaign.engine, f"{run.dag_id}/{run.run_id}")
    delivery = {row.openid: row.delivery for row in rows}
    assert delivery == {FANS[0]: "success", FANS[1]: "failed:user block", FANS[2]: "success"}
    with campaign.engine.connect() as connection:
        assert connection.scalar(sa.select(fans.c.blocks_templates).where(fans.c.openid == FANS[1])) is True
