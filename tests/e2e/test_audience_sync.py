"""The audience sync DAG against the sandbox: many pages, re-runs in place, and a quota stop that resumes."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
import time_machine

from tests.e2e.conftest import connect
from tests.fixtures.sandbox import make_standard_account
from wechat_campaigns.domain.clock import SHANGHAI
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.schema import fan_tags, fans, sync_state, tags, templates

pytestmark = pytest.mark.slow

GROUPS = [
    {"count": 12_000, "prefix": "oVip", "tags": ["vip"]},
    {"count": 5_000, "prefix": "oNew", "tags": ["newcomer"]},
    {"count": 13_000, "prefix": "oPlain"},
]


def parse_sync_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("wechat_sync_audience")


@pytest.fixture
def big_account(airflow_db, sandbox, store_url, monkeypatch):
    account = make_standard_account(sandbox, fan_groups=GROUPS)
    connect(monkeypatch, account, store_url)
    monkeypatch.setenv("WECHAT_ACCOUNTS", "wechat_default")
    return account


def fans_known(engine, appid):
    with engine.connect() as connection:
        return dict(
            connection.execute(
                sa.select(fans.c.subscribed, sa.func.count()).where(fans.c.appid == appid).group_by(fans.c.subscribed)
            ).all()
        )


def tag_sizes(engine, appid):
    with engine.connect() as connection:
        return dict(
            connection.execute(
                sa.select(tags.c.name, sa.func.count(fan_tags.c.openid))
                .join(fan_tags, (fan_tags.c.tag_id == tags.c.tag_id) & (fan_tags.c.appid == tags.c.appid))
                .where(tags.c.appid == appid)
                .group_by(tags.c.name)
            ).all()
        )


def test_sync_brings_in_every_page_and_updates_in_place(big_account, store_url):
    engine, appid, admin = engine_for(store_url), big_account.appid, big_account.admin
    run = parse_sync_dag().test()
    assert run.state == "success"
    total = 30_005  # the groups plus the standard account's five
    assert fans_known(engine, appid) == {True: total}
    assert tag_sizes(engine, appid) == {"vip": 12_002, "newcomer": 5_000, "customers": 5}
    with engine.connect() as connection:
        assert (
            connection.scalar(sa.select(sa.func.count()).select_from(templates).where(templates.c.appid == appid)) == 1
        )
        with_details = connection.scalar(
            sa.select(sa.func.count()).where(fans.c.appid == appid, fans.c.subscribe_time.is_not(None))
        )
    assert with_details == total
    calls = admin.stats(appid)["calls"]
    assert calls["/cgi-bin/user/info/batchget"] == 301  # 100 per call, each fan asked for once

    admin.add_fans(appid, fans=[{"openid": f"oVip{i:024d}", "subscribed": False} for i in range(10)])
    admin.add_fans(appid, fans=[{"openid": "oLateComer00000000000000001", "tags": ["vip"]}])
    again = parse_sync_dag().test()
    assert again.state == "success"
    assert fans_known(engine, appid) == {True: total - 10 + 1, False: 10}
    assert tag_sizes(engine, appid)["vip"] == 12_002 - 10 + 1


def test_a_sync_stopped_by_the_daily_quota_resumes_after_midnight(airflow_db, sandbox, store_url, monkeypatch):
    account = make_standard_account(sandbox, fan_groups=GROUPS[:2], quotas={"/cgi-bin/user/info/batchget": 100})
    connect(monkeypatch, account, store_url)
    monkeypatch.setenv("WECHAT_ACCOUNTS", "wechat_default")
    engine = engine_for(store_url)
    almost_midnight = datetime.now(SHANGHAI).replace(hour=23, minute=59, second=50, microsecond=0)
    sandbox.set_clock(almost_midnight)
    with time_machine.travel(almost_midnight, tick=True):
        run = parse_sync_dag().test()
    assert run.state == "success"
    with engine.connect() as connection:
        detailed = connection.scalar(sa.select(sa.func.count()).where(fans.c.subscribe_time.is_not(None)))
        state = connection.execute(sa.select(sync_state)).mappings().one()
    assert detailed == 17_005 and state["phase"] == "done"
    stats = sandbox.stats(account.appid)
    # 100 before midnight, the one WeChat refused, 71 after: no page of fans asked for twice
    assert stats["calls"]["/cgi-bin/user/info/batchget"] == 172
    assert stats["errors"].get("45009") == 1  # the one refusal that made it wait


def test_a_sync_fills_each_tags_fan_count_with_what_wechat_lists(airflow_db, sandbox, store_url, monkeypatch):
    groups = [
        {"count": 30, "prefix": "oTagVip", "tags": ["vip"]},
        {"count": 7, "prefix": "oTagGone", "tags": ["vip"], "subscribed": False},  # tagged, but no longer following
        {"count": 4, "prefix": "oTagNew", "tags": ["newcomer", "customers"]},
    ]
    account = make_standard_account(sandbox, fan_groups=groups)
    connect(monkeypatch, account, store_url)
    monkeypatch.setenv("WECHAT_ACCOUNTS", "wechat_default")
    engine = engine_for(store_url)

    assert parse_sync_dag().test().state == "success"

    wechat_says = {t["name"]: t["count"] for t in account.call("/cgi-bin/tags/get", method="GET")["tags"]}
    with engine.connect() as connection:
        listed = sa.select(tags.c.name, tags.c.fan_count).where(tags.c.appid == account.appid)
        counted = dict(connection.execute(listed).all())
    assert counted == wechat_says  # WeChat's system tag 星标组 too, with 0
    assert {name: counted[name] for name in ("vip", "customers", "newcomer")} == {
        "vip": 32,
        "customers": 9,
        "newcomer": 4,
    }

    account.admin.add_fans(account.appid, fans=[{"openid": "oTagLate000000000000000001", "tags": ["newcomer"]}])
    assert parse_sync_dag().test().state == "success"
    with engine.connect() as connection:
        newcomers = connection.scalar(sa.select(tags.c.fan_count).where(tags.c.name == "newcomer"))
    assert newcomers == 5
