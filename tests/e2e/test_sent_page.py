"""The Sent page and its JSON API on a real API server: login required, what it shows, CSV, both languages."""

from __future__ import annotations

import csv
import io
import time
from urllib.parse import quote, urlencode

import pytest
import requests

from tests.e2e.conftest import CALLBACK_FANS as FANS
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE

pytestmark = pytest.mark.slow

PATHS = [
    "/wechat/sent/",
    "/wechat/sent/api/runs",
    "/wechat/sent/api/run?key=x",
    "/wechat/sent/run.csv?key=x",
    "/wechat/sent/openapi.json",  # no schema is served to anyone, logged in or not (401 or 404)
    "/wechat/sent/docs",
]


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_requests_are_refused(api_server, path):
    assert requests.get(api_server.url + path, timeout=10).status_code in (401, 404)
    bad = {"Authorization": "Bearer not-a-token"}
    assert requests.get(api_server.url + path, headers=bad, timeout=10).status_code in (401, 403, 404)  # Airflow: 403


@pytest.fixture
def sent(api_server, callback_campaign):
    """A template campaign through the callback account (so WeChat's delivery reports come back), and a
    session with the marketer's token."""
    campaign = callback_campaign("plain")
    campaign.account.admin.add_fans(
        campaign.account.appid,
        fans=[
            {"openid": FANS[1], "blocks_templates": True},
            {"openid": FANS[2], "subscribed": False},
            {"openid": FANS[3], "blocks_templates": "async"},  # accepted, then WeChat reports failed:user block
        ],
    )
    from wechat_campaigns.store.fans import mark_fans

    mark_fans(campaign.engine, campaign.account.appid, [FANS[2]], subscribed=False)  # we heard of it
    run = campaign.run(
        message_type="template",
        wechat_conn_id=campaign.conn_id,
        openids=FANS,
        template_id=STANDARD_TEMPLATE,
        template_data=ORDER_PAID,
        name="Winter order notice",
    )
    assert run.state == "success"
    deadline = time.monotonic() + 20  # let the TEMPLATESENDJOBFINISH pushes arrive
    while time.monotonic() < deadline and len(campaign.account.admin.callbacks(campaign.account.appid)) < 4:
        time.sleep(0.1)
    time.sleep(0.5)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_server.token()}"
    return api_server.url + "/wechat/sent", session, f"{run.dag_id}/{run.run_id}"


def test_the_api_lists_the_run_with_its_funnel_and_reasons(sent):
    base, session, key = sent
    listed = session.get(f"{base}/api/runs", params={"kind": "template", "account": "wechat_cb"}, timeout=10).json()
    (run,) = [r for r in listed["runs"] if r["run_key"] == key]
    assert run["display_status"] == "completed" and run["name"] == "Winter order notice"
    detail = session.get(f"{base}/api/run", params={"key": key, "recipients": 1}, timeout=10).json()
    funnel = {step["step"]: step["count"] for step in detail["funnel"]}
    assert funnel == {"audience": 6, "eligible": 5, "sent": 4, "delivered": 3}
    assert {(r["status"], r["reason"]): r["count"] for r in detail["reasons"]} == {
        ("excluded", "unsubscribed"): 1,
        ("failed", "blocked"): 1,
        ("not_delivered", "user_block"): 1,
    }
    assert detail["run"]["delivery"] == {"delivered": 3, "not_delivered": {"user_block": 1}}
    assert len(detail["recipients"]["items"]) == 6
    assert detail["airflow_url"].startswith("/dags/wechat_campaign/runs/")


def test_filters_narrow_the_list(sent):
    base, session, key = sent
    for params, found in (
        ({"kind": "mass"}, False),
        ({"tag": "crowd"}, False),  # sent to an openid list, not to the tag
        ({"status": "failed"}, False),
        ({"from": "2000-01-01", "to": "2000-01-02"}, False),
        ({"from": time.strftime("%Y-%m-%d")}, True),
    ):
        keys = [r["run_key"] for r in session.get(f"{base}/api/runs", params=params, timeout=10).json()["runs"]]
        assert (key in keys) is found, params
    assert session.get(f"{base}/api/runs", params={"from": "yesterday"}, timeout=10).status_code == 400


def test_recipients_are_searchable_by_openid(sent):
    base, session, key = sent
    found = session.get(f"{base}/api/run", params={"key": key, "recipients": 1, "openid": FANS[1]}, timeout=10).json()
    (only,) = found["recipients"]["items"]
    assert only == {**only, "openid": FANS[1], "status": "failed", "reason": "blocked", "errcode": 43101}


def test_csv_export_holds_every_recipient(sent):
    base, session, key = sent
    answer = session.get(f"{base}/run.csv", params={"key": key}, timeout=10)
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert sorted(r["openid"] for r in rows) == sorted(FANS)
    delivery = {r["openid"]: r["delivery"] for r in rows}
    assert (delivery[FANS[0]], delivery[FANS[3]]) == ("success", "failed:user block")


@pytest.mark.parametrize(
    ("accept", "words"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", ["已发送", "发送漏斗", "已取消关注", "未送达: 发送后用户拒收"]),
        ("en-US,en;q=0.9", ["Sent messages", "Funnel", "unsubscribed", "Not delivered: refused templates after"]),
    ],
)
def test_pages_speak_the_browsers_language(sent, accept, words):
    base, session, key = sent
    page = session.get(f"{base}/run", params={"key": key}, headers={"Accept-Language": accept}, timeout=10)
    assert page.status_code == 200
    for word in words:
        assert word in page.text
    listing = session.get(f"{base}/", headers={"Accept-Language": accept}, timeout=10)
    assert "Winter order notice" in listing.text and words[0] in listing.text


def test_an_unknown_run_is_not_found(sent):
    base, session, _ = sent
    assert session.get(f"{base}/api/run", params={"key": "wechat_campaign/nope"}, timeout=10).status_code == 404


def test_csv_cells_that_start_like_a_formula_are_neutralised(sent):
    """A push whose Status is a spreadsheet formula is kept, but the export shows it as text."""
    from tests.integration.test_callback_endpoint import PLAIN, post

    base, session, key = sent
    detail = session.get(f"{base}/api/run", params={"key": key, "recipients": 1, "openid": FANS[0]}, timeout=10)
    (fan,) = detail.json()["recipients"]["items"]
    evil = '=HYPERLINK("http://evil/","ok")'
    xml = (
        f"<xml><FromUserName>{FANS[0]}</FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>{fan['msg_id']}</MsgID>"
        f"<Status><![CDATA[{evil}]]></Status></xml>"
    )
    assert post(api_server_of(base), PLAIN, xml.encode()).text == "success"
    rows = list(csv.DictReader(io.StringIO(session.get(f"{base}/run.csv", params={"key": key}, timeout=10).text)))
    assert {r["openid"]: r["delivery"] for r in rows}[FANS[0]] == "'" + evil
    page = session.get(f"{base}/run", params={"key": key, "openid": FANS[0]}, timeout=10).text
    assert "HYPERLINK" not in page  # shown as "not delivered: other", never WeChat's raw text


def api_server_of(base: str):
    """What ``post`` needs of the API server: its URL."""
    from types import SimpleNamespace

    return SimpleNamespace(url=base.removesuffix("/wechat/sent"))


@pytest.mark.parametrize(
    ("params", "named"),
    [({"page": 2**62}, "page: "), ({"page": -1}, "page: "), ({"to": "9999-12-31"}, "'9999-12-31' is not a date")],
)
def test_out_of_range_pages_and_dates_get_400_naming_the_parameter(sent, params, named):
    base, session, _ = sent
    for path in ("/", "/api/runs"):
        answer = session.get(base + path, params=params, timeout=10)
        assert answer.status_code == 400 and named in answer.json()["detail"], answer.text
    assert session.get(f"{base}/openapi.json", timeout=10).status_code == 404


def test_a_customer_service_run_names_the_window_rules_that_left_a_fan_out(api_server, callback_campaign):
    """Today's rules (since August 2023): a fan's message opens a window, a payment no longer does; the
    history, the API and the page (in both languages) say which rules decided."""
    from tests.e2e.test_callbacks import wait_for_pushes
    from wechat_campaigns.store.fans import add_interactions

    campaign = callback_campaign("plain")
    admin, appid = campaign.account.admin, campaign.account.appid
    admin.event(appid, FANS[0], "text", content="还有优惠吗")
    wait_for_pushes(admin, appid, 1)
    # payments come from the payment system, imported (WeChat pushes no event for them)
    paid = {"openid": FANS[1], "kind": "payment", "at": time.time() - 3600, "source": "import"}
    add_interactions(campaign.engine, appid, [paid])
    run = campaign.run(
        message_type="customer_service", wechat_conn_id=campaign.conn_id, openids=FANS[:2], text="有的！"
    )
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received("customer_service") == {FANS[0]: 1}
    counts = campaign.history(run)["counts"]
    assert (counts["reasons"], counts["cs_rules"]) == ({"excluded:opens_no_window": 1}, "2023-08")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_server.token()}"
    base, key = api_server.url + "/wechat/sent", f"{run.dag_id}/{run.run_id}"
    detail = session.get(f"{base}/api/run", params={"key": key}, timeout=10).json()
    assert [(r["status"], r["reason"], r["count"]) for r in detail["reasons"]] == [("excluded", "opens_no_window", 1)]
    for accept, words in (
        ("en", ["a payment or complaint opens no window", "Customer-service window rules:", "rules since August 2023"]),
        ("zh-CN", ["支付或维权已不再开启客服窗口", "客服消息窗口规则: 微信 2023 年 8 月起的规则"]),
    ):
        page = session.get(f"{base}/run", params={"key": key}, headers={"Accept-Language": accept}, timeout=10).text
        assert all(word in page for word in words), accept


def pages(api_server, key: str, path: str = "/run") -> dict[str, str]:
    """The run's page (or the list) in English and in Chinese, as the marketer's browser gets it."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_server.token()}"
    return {
        lang: session.get(
            f"{api_server.url}/wechat/sent{path}", params={"key": key}, headers={"Accept-Language": lang}, timeout=10
        ).text
        for lang in ("en", "zh-CN")
    }


def api_run(api_server, key: str) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_server.token()}"
    return session.get(f"{api_server.url}/wechat/sent/api/run", params={"key": key}, timeout=10).json()


def funnel_of(page: str) -> str:
    return page.split('id="funnel"', 1)[1].split("<h2>", 1)[0]


def test_a_dry_run_reads_planned_never_sent_and_shows_its_inline_text(api_server, callback_campaign):
    campaign = callback_campaign("plain")
    text = "<b>周末</b> & 新品 <script>alert(1)</script>"
    run = campaign.run(
        message_type="mass", wechat_conn_id=campaign.conn_id, openids=FANS, text=text, dry_run=True, name="Dry text"
    )
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received() == {}
    key = f"{run.dag_id}/{run.run_id}"
    assert [(s["step"], s["count"]) for s in api_run(api_server, key)["funnel"]] == [
        ("audience", 6),
        ("eligible", 6),
        ("planned", 6),
    ]
    page = pages(api_server, key)
    assert "Planned" in funnel_of(page["en"]) and "Sent" not in funnel_of(page["en"])
    assert "计划发送" in funnel_of(page["zh-CN"]) and "已发送" not in funnel_of(page["zh-CN"])
    escaped = "&lt;b&gt;周末&lt;/b&gt; &amp; 新品 &lt;script&gt;alert(1)&lt;/script&gt;"
    assert all(escaped in shown and "<script>alert" not in shown for shown in page.values())
    listing = pages(api_server, key, "/")
    assert "6 planned" in listing["en"] and "6 计划发送" in listing["zh-CN"]
    assert "&lt;b&gt;周末" in listing["en"]


def test_a_refused_run_shows_its_reason_in_red_at_the_top(api_server, callback_campaign):
    campaign = callback_campaign("plain")
    run = campaign.run(message_type="mass", wechat_conn_id=campaign.conn_id, tag="no_such_tag", text="hi")
    assert run.state == "failed"
    page = pages(api_server, f"{run.dag_id}/{run.run_id}")
    for lang, refused in (("en", "Refused: "), ("zh-CN", "拒绝原因: ")):
        shown = page[lang]
        banner = shown.split('<div class="banner refused" id="refusal" role="alert">', 1)[1].split("</div>", 1)[0]
        assert banner.startswith(refused) and "no_such_tag" in banner, banner
        assert shown.index('id="refusal"') < shown.index('class="card"')  # above everything else
    assert ".banner.refused" in page["en"] and "color: var(--bad)" in page["en"]


@pytest.mark.parametrize(
    ("errcode", "chinese"),
    [(40037, "返回错误码 40037：模板 ID 不在本公众号中"), (61999, "返回错误码 61999：")],
)
def test_wechats_errors_read_in_chinese_on_the_chinese_page(api_server, callback_campaign, errcode, chinese):
    campaign = callback_campaign("plain")
    admin = campaign.account.admin
    admin.faults([{"endpoint": "/cgi-bin/message/template/send", "errcode": errcode}])
    try:
        run = campaign.run(
            message_type="template",
            wechat_conn_id=campaign.conn_id,
            openids=FANS[:2],
            template_id=STANDARD_TEMPLATE,
            template_data=ORDER_PAID,
        )
    finally:
        admin.clear_faults()
    assert run.state == "failed"
    recorded = campaign.history(run)["error"]
    assert f"errcode {errcode}" in recorded
    page = pages(api_server, f"{run.dag_id}/{run.run_id}")
    assert chinese in page["zh-CN"] and recorded.split(": ", 1)[1] not in page["zh-CN"]
    if errcode == 61999:  # a code we do not know: WeChat's own text, as it came
        said = recorded.split(f"errcode {errcode}: ", 1)[1].split(" rid:")[0]
        assert said in page["zh-CN"]
    assert f"errcode {errcode}" in page["en"]
    assert "失败" in page["zh-CN"] and ">failed<" not in page["zh-CN"]


def test_a_browser_without_a_session_is_sent_to_airflows_login(api_server):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = f"{api_server.url}/wechat/sent/run?key=wechat_campaign%2Fx"
    answer = requests.get(page, headers=browser, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/login?" + urlencode({"next": page})
    assert requests.get(api_server.url + answer.headers["location"], timeout=10).status_code == 200
    for path in ("/wechat/sent/api/runs", "/wechat/sent/run.csv?key=x"):
        assert requests.get(api_server.url + path, headers=browser, timeout=10).status_code == 401


def test_cancel_ends_a_scheduled_run_as_success_with_a_note_of_who_cancelled(api_server, scheduler_dags):
    """The run page's Cancel, as the marketer (no scheduler here: the run stays queued, waiting). Airflow
    shows the run success with the note; the Sent page cancelled, by whom and when."""
    from wechat_campaigns.store import history
    from wechat_campaigns.store.db import engine_for

    scheduler_dags("wechat_campaign")
    airflow = requests.Session()
    airflow.headers["Authorization"] = f"Bearer {api_server.token()}"
    send_at = time.time() + 3600
    conf = {"message_type": "mass", "wechat_conn_id": "wechat_cb", "tag": "crowd", "text": "明天见"}
    made = airflow.post(
        f"{api_server.url}/api/v2/dags/wechat_campaign/dagRuns", json={"logical_date": None, "conf": conf}, timeout=10
    )
    assert made.status_code == 200, made.text
    run_id = made.json()["dag_run_id"]
    key = f"wechat_campaign/{run_id}"
    history.save_run(  # what validate records of a scheduled send
        engine_for(api_server.store_url), key, status="scheduled", kind="mass", name="Tomorrow",
        dag_id="wechat_campaign", dag_run_id=run_id, scheduled_for=send_at, conf=conf,
    )  # fmt: skip
    page = pages(api_server, key)
    assert 'id="cancel"' in page["en"] and "Airflow 3.3 has no cancelled state" in page["en"]
    assert "取消这次发送" in page["zh-CN"]

    answer = airflow.post(f"{api_server.url}/wechat/sent/cancel", data={"key": key}, timeout=30)
    assert answer.status_code == 200 and answer.url.endswith(f"run?key={quote(key, safe='')}"), answer.url
    assert "Cancelled by marketer at " in answer.text and 'id="cancel"' not in answer.text
    in_airflow = airflow.get(f"{api_server.url}/api/v2/dags/wechat_campaign/dagRuns/{run_id}", timeout=10).json()
    assert in_airflow["state"] == "success"
    assert in_airflow["note"].startswith("Cancelled by marketer at ")
    shown = api_run(api_server, key)
    assert shown["run"]["display_status"] == "cancelled" and shown["cancelled"]["by"] == "marketer"
    assert "marketer 于 " in pages(api_server, key)["zh-CN"]

    again = airflow.post(f"{api_server.url}/wechat/sent/cancel", data={"key": key}, timeout=30)
    assert "can no longer be cancelled" in again.text
    evil = {"Origin": "https://evil.example"}
    from_elsewhere = airflow.post(f"{api_server.url}/wechat/sent/cancel", data={"key": key}, headers=evil, timeout=10)
    assert from_elsewhere.status_code == 403
