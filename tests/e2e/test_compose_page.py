"""The Compose page (新建消息) on a real API server and the sandbox: login required; pickers filled from what
the audience sync found; a bad field said in the page, by field, with nothing triggered; the forecast's counts
are what a dry run then records; Send starts ``wechat_campaign`` in Airflow as the marketer, and its conf
reaches the fans' inboxes, for each kind.

No scheduler runs beside this API server: a run Send started stays queued in Airflow, and the test carries its
conf out with ``dag.test`` (which takes the queued run's place)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests
import sqlalchemy as sa

from tests.fixtures.airflow import CALLBACK_ACCOUNTS, run_dag, started_api_server, text_of
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from wechat_campaigns.store import history
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.fans import add_interactions
from wechat_campaigns.store.schema import access_tokens, fan_tags, fans, interactions, runs, sync_state, tags, templates

pytestmark = pytest.mark.slow

ACCOUNT = CALLBACK_ACCOUNTS["plain"]
COMPOSE = "/wechat/compose"


CONFIRM_THRESHOLD = 8  # sends to more fans ask for the confirmation


def account_connection(sandbox_url: str) -> dict[str, str]:
    """The plain callback account with a low confirm_threshold, for the API server and the runs alike."""
    extra = {"account_type": "service", "verified": True, "callback_token": ACCOUNT.token,
             "confirm_threshold": CONFIRM_THRESHOLD}  # fmt: skip
    connection = {"conn_type": "wechat_mp", "login": ACCOUNT.appid, "password": ACCOUNT.secret, "host": sandbox_url,
                  "extra": extra}  # fmt: skip
    return {f"AIRFLOW_CONN_{ACCOUNT.conn_id.upper()}": json.dumps(connection)}


@pytest.fixture(scope="module")
def compose_server(airflow_db, sandbox_process, tmp_path_factory):
    env = {"WECHAT_ACCOUNTS": f"{ACCOUNT.conn_id}=Candy Shop", **account_connection(sandbox_process)}
    with started_api_server(tmp_path_factory.mktemp("compose-api"), sandbox_process, env) as server:
        yield server


@pytest.fixture
def marketer(compose_server):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {compose_server.token()}"
    return session


@pytest.fixture
def shop(compose_server, sandbox, monkeypatch, scheduler_dags):
    """The standard account in the sandbox (5 fans: 2 vip, all customers) and 10 more (6 vip, 4 newcomer, all
    customers), synced into the API server's store."""
    scheduler_dags("wechat_campaign")
    env = {**compose_server.connection_env(sandbox.base_url), **account_connection(sandbox.base_url)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WECHAT_ACCOUNTS", ACCOUNT.conn_id)
    engine = engine_for(compose_server.store_url)
    with engine.begin() as connection:
        for table in (fans, fan_tags, tags, templates, runs, sync_state, interactions, access_tokens):
            connection.execute(sa.delete(table))
    groups = [
        {"count": 6, "prefix": "oCmpVip", "tags": ["vip", "customers"]},
        {"count": 4, "prefix": "oCmpNew", "tags": ["newcomer", "customers"]},
    ]
    account = make_standard_account(sandbox, appid=ACCOUNT.appid, secret=ACCOUNT.secret, fan_groups=groups)
    assert run_dag("wechat_sync_audience").state == "success"
    account.engine = engine
    return account




def problems_of(html: str) -> dict[str, str]:
    """What the page says is wrong, by field."""
    found = re.findall(r'data-problem="([^"]+)"[^>]*>(.*?)</', html, re.S)
    return {field: text_of(message).strip() for field, message in found}


def forecast_of(html: str) -> dict[str, int]:
    return {name: int(value.replace(",", "")) for name, value in re.findall(r'data-count="([^"]+)">([\d,]+)<', html)}


def airflow_runs(server, session) -> list[dict]:
    answer = session.get(f"{server.url}/api/v2/dags/wechat_campaign/dagRuns", params={"limit": 100}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["dag_runs"]


def compose_form(**values) -> dict[str, str]:
    form = {"account": ACCOUNT.conn_id, "timing": "now", "continue_next_day": "on", "audience": "tag"}
    return {**form, **values}


def openids_of(shop, prefix: str) -> list[str]:
    with shop.engine.connect() as connection:
        query = sa.select(fans.c.openid).where(fans.c.openid.startswith(prefix)).order_by(fans.c.openid)
        return list(connection.execute(query).scalars())


def test_the_page_needs_a_login(compose_server):
    assert requests.get(f"{compose_server.url}{COMPOSE}/", timeout=10).status_code == 401
    browser = requests.get(f"{compose_server.url}{COMPOSE}/", headers={"Accept": "text/html"}, timeout=10,
                           allow_redirects=False)  # fmt: skip
    assert browser.status_code == 303 and "login" in browser.headers["location"]
    assert requests.post(f"{compose_server.url}{COMPOSE}/send", data=compose_form(), timeout=10).status_code == 401


def test_the_pickers_show_tags_with_counts_materials_and_templates_with_examples(compose_server, marketer, shop):
    page = marketer.get(f"{compose_server.url}{COMPOSE}/", timeout=30).text
    shown = text_of(page)
    assert "New message" in shown and "Candy Shop" in shown
    tags_shown = dict(re.findall(r'<option value="([^"]+)" data-fans="(\d+)"', page))
    wechat_says = {t["name"]: str(t["count"]) for t in shop.call("/cgi-bin/tags/get", method="GET")["tags"]}
    assert tags_shown == wechat_says and tags_shown["vip"] == "8"  # the account's own 2 and our 6
    assert "Last sync (Beijing time)" in shown
    assert 'value="text/welcome"' in page and 'value="news/winter_launch"' in page
    assert f'value="{STANDARD_TEMPLATE}"' in page and "订单支付成功通知" in shown
    assert f'name="data.{STANDARD_TEMPLATE}.thing1"' in page and 'placeholder="' in page

    chinese = text_of(marketer.get(f"{compose_server.url}{COMPOSE}/", headers={"Accept-Language": "zh-CN"},
                                   timeout=30).text)  # fmt: skip
    assert "新建消息" in chinese and "粉丝标签" in chinese and "上次同步（北京时间）" in chinese


def test_a_bad_field_is_shown_by_field_and_nothing_is_triggered(compose_server, marketer, shop):
    before = len(airflow_runs(compose_server, marketer))
    past = (datetime.now(UTC) + timedelta(hours=8) - timedelta(days=1)).strftime("%Y-%m-%d")
    form = compose_form(
        message_type="template",
        tag="vipp",
        template_id=STANDARD_TEMPLATE,
        timing="at",
        send_date=past,
        send_time="09:30",
        **{f"data.{STANDARD_TEMPLATE}.{name}": value for name, value in ORDER_PAID.items() if name != "amount3"},
    )
    answer = marketer.post(f"{compose_server.url}{COMPOSE}/send", data=form, timeout=30, allow_redirects=False)
    assert answer.status_code == 400
    problems = problems_of(answer.text)
    assert "is in the past" in problems["send_at"]
    assert "no fan tag named 'vipp'" in problems["tag"]
    assert "missing" in problems["template_data.amount3"]
    assert "Nothing was sent" in text_of(answer.text)
    assert len(airflow_runs(compose_server, marketer)) == before

    chinese = marketer.post(f"{compose_server.url}{COMPOSE}/send", data=form, headers={"Accept-Language": "zh-CN"},
                            timeout=30, allow_redirects=False)  # fmt: skip
    assert "未发送" in text_of(chinese.text)


def test_the_forecast_counts_are_what_a_dry_run_records(compose_server, marketer, shop):
    """Customer service to everyone tagged customers: 3 fans wrote in the last 48 h, one 50 h ago."""
    now = datetime.now(UTC)
    vip = openids_of(shop, "oCmpVip")
    rows = [{"openid": o, "kind": "text", "at": (now - timedelta(hours=2)).timestamp(), "source": "import"}
            for o in vip[:3]]  # fmt: skip
    rows.append({"openid": vip[3], "kind": "text", "at": (now - timedelta(hours=50)).timestamp(), "source": "import"})
    add_interactions(shop.engine, shop.appid, rows)
    form = compose_form(message_type="customer_service", tag="customers", material="text/welcome", dry_run="on")

    checked = marketer.post(f"{compose_server.url}{COMPOSE}/check", data=form, timeout=60)
    assert checked.status_code == 200 and problems_of(checked.text) == {}
    forecast = forecast_of(checked.text)
    assert forecast["audience"] == 15 and forecast["eligible"] == 3 and forecast["left_out.outside_48h"] == 12
    assert forecast["calls"] == 3 and forecast["days"] == 1

    run = run_dag("wechat_campaign", message_type="customer_service", wechat_conn_id=ACCOUNT.conn_id,
                  tag="customers", material="text/welcome", dry_run=True)  # fmt: skip
    assert run.state == "success"
    counts = history.get_run(shop.engine, f"wechat_campaign/{run.run_id}")["counts"]
    assert counts["audience"] == forecast["audience"] and counts["eligible"] == forecast["eligible"]
    recorded = {key.removeprefix("excluded:"): n for key, n in counts["reasons"].items()}
    assert recorded == {key.removeprefix("left_out."): n for key, n in forecast.items() if key.startswith("left_out.")}


def test_a_large_send_asks_for_confirmation_in_the_page(compose_server, marketer, shop):
    """15 fans tagged customers, over the account's threshold of 8: Send is refused until the box is ticked."""
    before = len(airflow_runs(compose_server, marketer))
    form = compose_form(message_type="mass", tag="customers", material="text/welcome")
    refused = marketer.post(f"{compose_server.url}{COMPOSE}/send", data=form, timeout=60, allow_redirects=False)
    assert refused.status_code == 400
    assert "15 fans would receive this, more than this account's 8" in problems_of(refused.text)["confirm_large_send"]
    assert 'name="confirm_large_send"' in refused.text and forecast_of(refused.text)["eligible"] == 15
    assert len(airflow_runs(compose_server, marketer)) == before

    confirmed = marketer.post(f"{compose_server.url}{COMPOSE}/check", data={**form, "confirm_large_send": "on"},
                              timeout=60)  # fmt: skip
    assert confirmed.status_code == 200 and problems_of(confirmed.text) == {}
    assert forecast_of(confirmed.text)["calls"] == 1  # the whole tag: one sendall


def started(compose_server, marketer, form) -> dict:
    """Press Send: the answer opens the run's page; the run is in Airflow, started by the marketer."""
    answer = marketer.post(f"{compose_server.url}{COMPOSE}/send", data=form, timeout=60, allow_redirects=False)
    assert answer.status_code == 303, problems_of(answer.text) or answer.text[-2000:]
    key = unquote(parse_qs(urlparse(answer.headers["location"]).query)["key"][0])
    dag_id, _, run_id = key.partition("/")
    assert dag_id == "wechat_campaign"
    made = marketer.get(f"{compose_server.url}/api/v2/dags/wechat_campaign/dagRuns/{run_id}", timeout=10).json()
    assert made["triggering_user_name"] == "marketer"
    waiting = marketer.get(compose_server.url + COMPOSE + "/" + answer.headers["location"].rsplit("/", 1)[-1],
                           timeout=10, allow_redirects=False)  # fmt: skip
    assert waiting.status_code == 200 and "/wechat/sent/run?key=" in waiting.text  # until validate writes the row
    return made["conf"]


def test_send_of_each_kind_reaches_the_fans_inboxes(compose_server, marketer, shop, sandbox):
    vip, new = openids_of(shop, "oCmpVip"), openids_of(shop, "oCmpNew")
    mass = started(compose_server, marketer, compose_form(message_type="mass", tag="vip", material="text/welcome"))
    assert run_dag("wechat_campaign", **mass).state == "success"
    for openid in vip:
        assert [m["kind"] for m in shop.inbox(openid)] == ["mass"]

    data = {f"data.{STANDARD_TEMPLATE}.{name}": value for name, value in ORDER_PAID.items()}
    template = started(compose_server, marketer, compose_form(
        message_type="template", tag="newcomer", template_id=STANDARD_TEMPLATE, **data))  # fmt: skip
    assert template["template_data"] == ORDER_PAID
    assert run_dag("wechat_campaign", **template).state == "success"
    for openid in new:
        (message,) = shop.inbox(openid)
        assert message["kind"] == "template" and message["content"]["data"]["thing1"] == "巧克力礼盒"

    now = datetime.now(UTC)
    sandbox.event(shop.appid, new[0], "text", at=now - timedelta(minutes=5))
    add_interactions(shop.engine, shop.appid, [{"openid": new[0], "kind": "text", "at": time.time() - 300,
                                                 "source": "import"}])  # fmt: skip
    pasted = f"{new[0]}\n{vip[0]}"
    service = started(compose_server, marketer, compose_form(
        message_type="customer_service", audience="openids", openids=pasted, material="text/welcome"))  # fmt: skip
    assert service["openids"] == [new[0], vip[0]]
    assert run_dag("wechat_campaign", **service).state == "success"
    assert [m["kind"] for m in shop.inbox(new[0])][-1] == "customer_service"
    assert [m["kind"] for m in shop.inbox(vip[0])] == ["mass"]  # no open window: left out


def test_openids_from_a_csv_file_are_forecast_with_their_duplicates(compose_server, marketer, shop):
    """A CSV export with a header (its openid column, not the first) and an openid twice, plus one pasted."""
    new = openids_of(shop, "oCmpNew")
    export = "name,openid\n" + "".join(f"fan {i},{openid}\n" for i, openid in enumerate(new)) + f"again,{new[0]}\n"
    data = {f"data.{STANDARD_TEMPLATE}.{name}": value for name, value in ORDER_PAID.items()}
    pasted = openids_of(shop, "oCmpVip")[0]
    form = compose_form(message_type="template", audience="openids", openids=pasted, template_id=STANDARD_TEMPLATE,
                        **data)  # fmt: skip
    files = {"openids_csv": ("fans.csv", export.encode(), "text/csv")}
    checked = marketer.post(f"{compose_server.url}{COMPOSE}/check", data=form, files=files, timeout=60)
    assert checked.status_code == 200, problems_of(checked.text)
    forecast = forecast_of(checked.text)
    assert forecast["audience"] == 6 and forecast["left_out.duplicate"] == 1 and forecast["eligible"] == 5
