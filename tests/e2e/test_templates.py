"""Template management from the declarative file, and the template lint in campaigns."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine

from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE
from wechat_campaigns.domain.clock import SHANGHAI, next_month_start
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.templates import stored_templates

pytestmark = pytest.mark.slow

POINTS = {"short_id": "OPENTM401202033", "keywords": ["会员姓名", "变动积分", "当前积分", "变动时间"]}
SHIPPED = {"short_id": "OPENTM207791277", "keywords": ["商品名称", "快递单号"]}


def parse_templates_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag().get_dag("wechat_templates")


@pytest.fixture
def declare(campaign, tmp_path, monkeypatch):
    """Write the account's template file and run the DAG; returns (dag run, the task's report)."""
    import yaml

    monkeypatch.setenv("WECHAT_MATERIALS_DIR", str(tmp_path))
    monkeypatch.setenv("WECHAT_ACCOUNTS", "wechat_default")
    (tmp_path / "templates").mkdir()

    def apply(industry=None, templates=()):
        data = {"templates": list(templates)}
        if industry:
            data["industry"] = industry
        (tmp_path / "templates" / "wechat_default.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
        run = parse_templates_dag().test()
        (ti,) = run.get_task_instances()
        return run, ti

    return apply


def wechat_templates(campaign):
    listed = campaign.account.call("/cgi-bin/template/get_all_private_template", method="GET")["template_list"]
    return {t["template_id"]: t["title"] for t in listed}


def test_templates_are_added_once_and_synced_into_the_store(campaign, declare):
    run, _ = declare(templates=[POINTS, SHIPPED])
    assert run.state == "success"
    titles = wechat_templates(campaign)
    assert sorted(titles.values()) == ["会员积分变动提醒", "订单发货提醒", "订单支付成功通知"]
    stored = {
        row["template_id"]: row for row in stored_templates(engine_for(campaign.store_url), campaign.account.appid)
    }
    assert set(stored) == set(titles)
    assert sum(1 for row in stored.values() if row["short_id"]) == 2

    again, _ = declare(templates=[POINTS, SHIPPED])
    assert again.state == "success" and wechat_templates(campaign) == titles  # nothing added twice

    removed, _ = declare(templates=[POINTS, {**SHIPPED, "delete": True}])
    assert removed.state == "success"
    assert sorted(wechat_templates(campaign).values()) == ["会员积分变动提醒", "订单支付成功通知"]


def test_the_industry_changes_at_most_once_a_month(campaign, declare):
    industry = campaign.account.call("/cgi-bin/template/get_industry", method="GET")
    assert industry["primary_industry"]["first_class"] == "IT科技"
    first, _ = declare(industry=[10, 31])
    assert first.state == "success"
    changed = campaign.account.call("/cgi-bin/template/get_industry", method="GET")
    assert changed["primary_industry"]["second_class"] == "餐饮"

    templates_before = wechat_templates(campaign)
    second, _ = declare(industry=[16, 31], templates=[POINTS])
    assert second.state == "failed"  # refused with the date it becomes possible; nothing else changed
    assert wechat_templates(campaign) == templates_before
    assert campaign.account.call("/cgi-bin/template/get_industry", method="GET") == changed

    next_month = next_month_start(datetime.now(SHANGHAI)) + timedelta(hours=1)
    campaign.account.admin.set_clock(next_month)
    with time_machine.travel(next_month, tick=True):
        later, _ = declare(industry=[16, 31])
    assert later.state == "success"


def test_never_more_than_25_templates(make_campaign, declare):
    existing = [{"template_id": f"tpl-{i:02d}", "template_id_short": "TM00015"} for i in range(24)]
    campaign = make_campaign(templates=existing)
    run, _ = declare(templates=[POINTS, SHIPPED])
    assert run.state == "failed"
    assert len(wechat_templates(campaign)) == 24  # refused as a whole: not one added


def test_template_values_wechat_would_change_are_reported(campaign):
    long_name = "冬季限定太妃榛果拿铁与黑糖姜茶双杯礼盒套装"  # over 20 characters: WeChat cuts it
    run = campaign.run(
        message_type="template",
        tag="vip",
        template_id=STANDARD_TEMPLATE,
        template_data={**ORDER_PAID, "thing1": long_name},
    )
    assert run.state == "success"
    (finding,) = campaign.history(run)["lint"]
    assert finding["field"] == "thing1" and finding["severity"] == "changed"
    assert campaign.inbox(campaign.account.openids[0])[0]["content"]["data"]["thing1"].endswith("…")


def test_strict_mode_refuses_what_wechat_would_change(campaign):
    data = {**ORDER_PAID, "thing1": "买一送一🎉"}
    run = campaign.run(
        message_type="template", tag="vip", template_id=STANDARD_TEMPLATE, template_data=data, template_strict=True
    )
    assert run.state == "failed"
    assert campaign.history(run)["error"] == "template_data.thing1: emoji are removed"
    assert campaign.received() == {}


def test_a_value_wechat_would_refuse_stops_the_campaign_before_sending(campaign):
    run = campaign.run(
        message_type="template",
        tag="vip",
        template_id=STANDARD_TEMPLATE,
        template_data={**ORDER_PAID, "amount3": "很多钱"},
    )
    assert run.state == "failed"
    assert "template_data.amount3" in campaign.history(run)["error"]
    assert campaign.received() == {}


def test_a_fans_own_value_wechat_would_refuse_fails_only_that_fan(campaign):
    from wechat_campaigns.store.fans import upsert_fans

    first, second = campaign.account.openids[:2]
    upsert_fans(
        campaign.engine,
        campaign.account.appid,
        [{"openid": first, "attributes": {"spent": "39.80元"}}, {"openid": second, "attributes": {"spent": "不少"}}],
    )
    data = {**ORDER_PAID, "amount3": "{{ spent }}"}
    run = campaign.run(message_type="template", tag="vip", template_id=STANDARD_TEMPLATE, template_data=data)
    assert campaign.ledger(run)[second] == ("failed", "invalid_template_value")
    assert campaign.received("template") == {first: 1}
    assert run.state == "failed"  # the data, not the fan, is at fault: somebody should look
    assert campaign.history(run)["status"] == "partial"
