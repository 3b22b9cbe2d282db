"""Template messages: permissions, recipients, keyword value rules, rendering, de-duplication, events."""

from __future__ import annotations

import pytest

from tests.fixtures.sandbox import ORDER_PAID, make_standard_account

from .conftest import assert_error, xml_field


def test_send_delivers_the_rendered_message(service_account):
    fan = service_account.openids[0]
    data = {**ORDER_PAID, "first": "您好", "remark": "欢迎再次光临"}
    answer = service_account.template_send(fan, data, url="https://shop.example.com/o/1")
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert answer["msgid"] > 2**53
    [message] = service_account.inbox(fan)
    assert message["kind"] == "template" and message["msg_id"] == str(answer["msgid"])
    content = message["content"]
    assert content["title"] == "订单支付成功通知"
    assert content["data"] == ORDER_PAID  # first/remark are not shown
    assert content["text"].splitlines()[0] == "商品名称:巧克力礼盒"
    assert content["url"] == "https://shop.example.com/o/1"


def test_emoji_are_stripped_and_long_things_truncated(service_account):
    fan = service_account.openids[0]
    data = {**ORDER_PAID, "thing1": "🎉超值巧克力礼盒🍫限时特惠买一送一再送精美贺卡一张"}
    data["character_string2"] = {"value": "SO-1", "color": "#FF0000"}["value"]
    assert service_account.template_send(fan, data)["errcode"] == 0
    shown = service_account.inbox(fan)[0]["content"]["data"]["thing1"]
    assert "🎉" not in shown and len(shown) == 20 and shown.endswith("…")
    assert shown.startswith("超值巧克力礼盒限时特惠")


def test_only_verified_service_accounts(sandbox):
    for overrides in ({"verified": False}, {"type": "subscription"}, {"type": "subscription", "verified": False}):
        account = make_standard_account(sandbox, **overrides)
        refused = account.template_send(account.openids[0], ORDER_PAID)
        assert_error(refused, 48001)
        assert refused["errmsg"].startswith("api unauthorized rid: ")
        assert account.inbox(account.openids[0]) == []


def test_recipient_and_template_errors(service_account, sandbox):
    a, b, c = service_account.openids[:3]
    sandbox.add_fans(
        service_account.appid, [{"openid": a, "subscribed": False}, {"openid": b, "blocks_templates": True}]
    )
    assert_error(service_account.template_send(c, ORDER_PAID, template_id="nope"), 40037)
    assert_error(service_account.template_send("oNobody000000000000000000000", ORDER_PAID), 40003)
    assert_error(service_account.template_send(a, ORDER_PAID), 43004)
    assert_error(service_account.template_send(b, ORDER_PAID), 43101)
    assert service_account.inbox(a) == service_account.inbox(b) == []


def test_job_finish_events(service_account, sandbox, receiver):
    a, b, c = service_account.openids[:3]
    sandbox.update_account(service_account.appid, callback_url=receiver.url)
    sandbox.add_fans(
        service_account.appid, [{"openid": b, "blocks_templates": "async"}, {"openid": c, "template_failure": True}]
    )
    ids = {fan: service_account.template_send(fan, ORDER_PAID)["msgid"] for fan in (a, b, c)}
    pushes = receiver.wait_for(3)
    statuses = {
        xml_field(p.body, "FromUserName"): (xml_field(p.body, "Status"), xml_field(p.body, "MsgID")) for p in pushes
    }
    assert statuses == {
        a: ("success", str(ids[a])),
        b: ("failed:user block", str(ids[b])),
        c: ("failed: system failed", str(ids[c])),
    }
    assert all(xml_field(p.body, "Event") == "TEMPLATESENDJOBFINISH" for p in pushes)
    assert service_account.inbox(b) == [] and service_account.inbox(c) == []
    assert len(service_account.inbox(a)) == 1


def test_client_msg_id_deduplicates_for_ten_minutes(service_account, sandbox):
    a, b = service_account.openids[:2]
    first = service_account.template_send(a, ORDER_PAID, client_msg_id="order-1")
    again = service_account.template_send(a, ORDER_PAID, client_msg_id="order-1")
    assert again == first
    other_fan = service_account.template_send(b, ORDER_PAID, client_msg_id="order-1")
    assert other_fan["msgid"] != first["msgid"]
    assert len(service_account.inbox(a)) == 1 and len(service_account.inbox(b)) == 1
    sandbox.advance_clock(601)
    later = service_account.template_send(a, ORDER_PAID, client_msg_id="order-1")
    assert later["msgid"] != first["msgid"] and len(service_account.inbox(a)) == 2


def test_daily_quota(sandbox):
    account = make_standard_account(sandbox, quotas={"/cgi-bin/message/template/send": 2})
    sandbox.set_clock("2026-04-01T23:59:00+08:00")
    assert account.template_send(account.openids[0], ORDER_PAID)["errcode"] == 0
    assert_error(account.template_send(account.openids[0], {}), 47003)  # a refused call still counts
    assert_error(account.template_send(account.openids[0], ORDER_PAID), 45009)
    sandbox.advance_clock(120)  # Beijing midnight
    assert account.template_send(account.openids[0], ORDER_PAID)["errcode"] == 0


def test_missing_and_empty_values(service_account):
    fan = service_account.openids[0]
    missing = service_account.template_send(fan, {k: v for k, v in ORDER_PAID.items() if k != "amount3"})
    assert_error(missing, 47003)
    assert missing["errmsg"].startswith("argument invalid! data.amount3.value is empty")
    empty = service_account.template_send(fan, {**ORDER_PAID, "thing1": "  "})
    assert empty["errmsg"].startswith("argument invalid! data.thing1.value is empty")
    emoji_only = service_account.template_send(fan, {**ORDER_PAID, "thing1": "🎉🎉"})
    assert emoji_only["errmsg"].startswith("argument invalid! data.thing1.value is empty")


VALUES = [
    ("number", "12345", True),
    ("number", "-3.14", True),
    ("number", "1" * 33, False),
    ("number", "12a", False),
    ("letter", "ABCdef", True),
    ("letter", "AB1", False),
    ("letter", "a" * 33, False),
    ("symbol", "+-", True),
    ("symbol", "%%%%%%", False),
    ("symbol", "a", False),
    ("character_string", "SO-2026_01", True),
    ("character_string", "订单123", False),
    ("character_string", "x" * 33, False),
    ("amount", "39.80元", True),
    ("amount", "¥1234567890", True),
    ("amount", "$12.5", True),
    ("amount", "¥12345678901", False),
    ("amount", "三十元", False),
    ("time", "2014年9月22日 15:01", True),
    ("time", "15:01", True),
    ("time", "2026-01-10 14:00~16:00", True),
    ("time", "2026-01-10 14:00:59", True),
    ("time", "25:00", False),
    ("time", "明天下午", False),
    ("date", "2026年1月5日", True),
    ("date", "2026-13-01", False),
    ("date", "15:00", False),
    ("phone_number", "+86 400-123-4567", True),
    ("phone_number", "1" * 18, False),
    ("phone_number", "call me", False),
    ("car_number", "沪A12345", True),
    ("car_number", "沪A1234567", False),
    ("name", "张三", True),
    ("name", "John Smith", True),
    ("name", "张三丰张三丰张三丰张三", False),
    ("name", "张三Smith", False),
    ("phrase", "已缴费", True),
    ("phrase", "已经缴费了吗啊", False),
    ("phrase", "paid", False),
]


@pytest.mark.parametrize(("kind", "value", "valid"), VALUES)
def test_keyword_value_rules(sandbox, kind, value, valid):
    content = f"项目:{{{{{kind}1.DATA}}}}"
    account = make_standard_account(sandbox, templates=[{"template_id": "t1", "title": "测试", "content": content}])
    answer = account.template_send(account.openids[0], {f"{kind}1": value}, template_id="t1")
    if valid:
        assert answer["errcode"] == 0, answer
        assert account.inbox(account.openids[0])[0]["content"]["data"] == {f"{kind}1": value}
    else:
        assert_error(answer, 47003)
        assert answer["errmsg"].startswith(f"argument invalid! data.{kind}1.value invalid")


def test_legacy_template_with_first_and_remark(sandbox):
    content = "{{first.DATA}}\n商品：{{keyword1.DATA}}\n时间：{{keyword2.DATA}}\n{{remark.DATA}}"
    account = make_standard_account(sandbox, templates=[{"template_id": "old", "title": "旧模板", "content": content}])
    answer = account.template_send(account.openids[0], {"keyword1": "糖", "keyword2": "今天"}, template_id="old")
    assert answer["errcode"] == 0
    assert account.inbox(account.openids[0])[0]["content"]["text"] == "商品：糖\n时间：今天"


def test_colours_and_topcolor_are_ignored(service_account):
    fan = service_account.openids[0]
    data = {k: {"value": v, "color": "#FF0000"} for k, v in ORDER_PAID.items()}
    body = {"touser": fan, "template_id": service_account.template_id, "topcolor": "#00FF00", "data": data}
    assert service_account.call("/cgi-bin/message/template/send", body)["errcode"] == 0
    content = service_account.inbox(fan)[0]["content"]
    assert content["data"] == ORDER_PAID and "color" not in str(content)
