"""The sandbox pushes real signed (and encrypted) callbacks to the endpoint served by the Airflow API server;
the store shows what they said, and campaigns act on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
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


def sent_page_run(api_server, run, accept: str | None = None, page: str = "api/run"):
    """The Sent page's view of a run (its JSON, or the HTML page in the language ``accept`` asks for)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_server.token()}"
    if accept:
        session.headers["Accept-Language"] = accept
    answer = session.get(
        f"{api_server.url}/wechat/sent/{page}", params={"key": f"{run.dag_id}/{run.run_id}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json() if page.startswith("api/") else answer.text


@pytest.mark.parametrize("reported", ["at once", "after the run"])
def test_a_mass_job_the_administrator_refused_fails_the_run_and_its_fans(api_server, callback_campaign, reported):
    """API 群发保护: WeChat accepted the job, then the administrator refused it, and MASSSENDJOBFINISH says
    err(40001). Reported at once (before the run's verdict, most likely before the job's msg_id is written)
    or after the run is over (its verdict is given again): the history, the ledger and the Sent page say the
    job failed, with WeChat's status and counts, and nobody is shown sent."""
    if reported == "at once":
        campaign = callback_campaign("safe", mass_finish_delay=0, next_mass_outcome={"status": "err(40001)", "jobs": 1})
    else:
        campaign = callback_campaign("safe", mass_finish_delay=3600)  # still SENDING when the run is over
    admin, appid = campaign.account.admin, campaign.account.appid
    run = campaign.run(message_type="mass", wechat_conn_id=campaign.conn_id, tag="crowd", text="冬季上新")
    if reported == "after the run":
        assert run.state == "success" and campaign.history(run)["status"] == "completed"
        (msg_id,) = campaign.history(run)["msg_ids"]
        admin.finish_mass_job(int(msg_id), status="err(40001)", appid=appid)
    wait_for_pushes(admin, appid, 1)
    assert campaign.received("mass") == {}  # WeChat took the message back: nobody has it
    row = campaign.history(run)
    (msg_id,) = row["msg_ids"]
    said = f"WeChat reported mass job {msg_id} err(40001) (the administrator refused the send, API 群发保护)"
    assert row["status"] == "failed"
    assert row["error"] == f"0 of 6 sent; 6 not sent: mass_refused_by_admin ×6; {said}: 0 of 6 sent, 6 failed"
    assert row["counts"]["status"] == {"failed": 6}
    assert (row["wechat_report"]["sent"], row["wechat_report"]["error"]) == (0, 6)
    assert set(campaign.ledger(run).values()) == {("failed", "mass_refused_by_admin")}
    view = sent_page_run(api_server, run)
    assert (view["run"]["display_status"], view["run"]["error"]) == ("failed", row["error"])
    assert view["mass_jobs"] == [
        {"msg_id": msg_id, "wechat_status": "err(40001)", "total": 6, "filter": 6, "sent": 0, "error": 6,
         "result": "failed"}
    ]  # fmt: skip
    assert {step["step"]: step["count"] for step in view["funnel"]} == {
        "audience": 6, "eligible": 6, "sent": 0, "delivered": 0
    }  # fmt: skip
    assert [(r["status"], r["reason"], r["count"]) for r in view["reasons"]] == [("failed", "mass_refused_by_admin", 6)]
    for accept, words in (
        ("zh-CN,zh;q=0.9", ["失败", "微信对每个群发任务的回报", "err(40001): 管理员拒绝了群发（API 群发保护）"]),
        ("en-US,en;q=0.9", ["Failed", "What WeChat reported of each mass job", "the administrator refused the"]),
    ):
        page = sent_page_run(api_server, run, accept, page="run")
        assert all(word in page for word in words), [word for word in words if word not in page]


def test_a_mass_job_with_errors_makes_the_run_partial_with_wechats_counts(api_server, callback_campaign):
    """ErrorCount > 0 on a job that reached most of its fans: the run is partial, its error names WeChat's
    status and counts. Which fans failed WeChat does not say: they stay sent, and WeChat's count is delivered."""
    outcome = {"status": "send success", "error_count": 2, "jobs": 1}
    campaign = callback_campaign("compat", next_mass_outcome=outcome)
    admin, appid = campaign.account.admin, campaign.account.appid
    run = campaign.run(message_type="mass", wechat_conn_id=campaign.conn_id, tag="crowd", text="冬季上新")
    wait_for_pushes(admin, appid, 1)
    assert sum(campaign.received("mass").values()) == 4
    row = campaign.history(run)
    (msg_id,) = row["msg_ids"]
    assert (row["status"], row["error"]) == (
        "partial",
        f"WeChat reported mass job {msg_id} send success with errors: 4 of 6 sent, 2 failed",
    )
    view = sent_page_run(api_server, run)
    assert view["run"]["display_status"] == "partial"
    assert [(job["result"], job["sent"], job["error"]) for job in view["mass_jobs"]] == [("partial", 4, 2)]
    assert {step["step"]: step["count"] for step in view["funnel"]}["delivered"] == 4


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
