"""Template management: industries (once a month), the library, 25 templates, deletion."""

from __future__ import annotations

from tests.fixtures.sandbox import make_standard_account

from .conftest import assert_error


def add(account, short_id, keywords=()):
    return account.call(
        "/cgi-bin/template/api_add_template", {"template_id_short": short_id, "keyword_name_list": list(keywords)}
    )


def templates(account):
    return account.call("/cgi-bin/template/get_all_private_template", method="GET")["template_list"]


def test_add_list_and_delete(service_account):
    answer = add(service_account, "47123", ["活动名称", "报名编号", "活动时间"])
    assert answer["errcode"] == 0 and answer["template_id"]
    created = next(t for t in templates(service_account) if t["template_id"] == answer["template_id"])
    assert created["title"] == "活动报名成功通知"
    assert (
        created["content"] == "活动名称:{{thing1.DATA}}\n报名编号:{{character_string2.DATA}}\n活动时间:{{time3.DATA}}"
    )
    assert set(created) == {"template_id", "title", "primary_industry", "deputy_industry", "content", "example"}
    full = add(service_account, "TM00015")
    tm = next(t for t in templates(service_account) if t["template_id"] == full["template_id"])
    assert tm["primary_industry"] == "IT科技" and tm["deputy_industry"] == "互联网|电子商务"
    sent = service_account.template_send(
        service_account.openids[0],
        {"thing1": "新年品鉴会", "character_string2": "EV-1", "time3": "2026-01-10 14:00"},
        template_id=answer["template_id"],
    )
    assert sent["errcode"] == 0
    assert (
        service_account.call("/cgi-bin/template/del_private_template", {"template_id": answer["template_id"]})[
            "errcode"
        ]
        == 0
    )
    assert_error(service_account.call("/cgi-bin/template/del_private_template", {"template_id": "gone"}), 40037)
    assert answer["template_id"] not in {t["template_id"] for t in templates(service_account)}


def test_library_errors_and_25_templates(service_account):
    assert_error(add(service_account, "47123", ["活动名称", "不存在的关键词"]), 40246)
    assert_error(add(service_account, "99999999"), 40037)
    while len(templates(service_account)) < 25:
        assert add(service_account, "43216", ["车牌号", "缴费金额"])["errcode"] == 0
    assert_error(add(service_account, "43216", ["车牌号"]), 45026)


def test_industry_changes_once_a_month_and_drops_other_industries_templates(sandbox):
    account = make_standard_account(sandbox, industry=None)
    sandbox.set_clock("2026-02-10T10:00:00+08:00")
    catering = add(account, "TM00001")["template_id"]  # industry 10
    category = add(account, "45678", ["账户", "变动金额"])["template_id"]  # category template
    assert (
        account.call("/cgi-bin/template/api_set_industry", {"industry_id1": "1", "industry_id2": "31"})["errcode"] == 0
    )
    industry = account.call("/cgi-bin/template/get_industry", method="GET")
    assert industry["primary_industry"] == {"first_class": "IT科技", "second_class": "互联网|电子商务"}
    assert industry["secondary_industry"] == {"first_class": "消费品", "second_class": "消费品"}
    remaining = {t["template_id"] for t in templates(account)}
    assert catering not in remaining and category in remaining and "tpl-order-paid" in remaining
    assert_error(account.call("/cgi-bin/template/api_set_industry", {"industry_id1": "10", "industry_id2": "2"}), 43100)
    sandbox.set_clock("2026-03-01T00:00:05+08:00")
    assert (
        account.call("/cgi-bin/template/api_set_industry", {"industry_id1": "10", "industry_id2": "2"})["errcode"] == 0
    )
    assert "tpl-order-paid" not in {t["template_id"] for t in templates(account)}
    assert_error(account.call("/cgi-bin/template/api_set_industry", {"industry_id1": "0", "industry_id2": "99"}), 40102)
