"""Eligibility, batching, rendering and the Beijing calendar: the rules a marketer relies on."""

from datetime import UTC, datetime, timedelta

import pytest

from wechat_campaigns.domain.clock import SHANGHAI, next_midnight, shanghai_day, shanghai_month
from wechat_campaigns.domain.eligibility import (
    CS_RULES_BY_NAME,
    CURRENT_CS_RULES,
    FanFacts,
    Reason,
    Window,
    WindowClass,
    exclusion,
    in_holdout,
    to_all_wait,
    when_mass_quota_returns,
)
from wechat_campaigns.domain.errors import Action, WeChatError, classify
from wechat_campaigns.domain.plan import batch_count, batch_of, clientmsgid, owns, slices, template_client_msg_id
from wechat_campaigns.domain.render import RenderError, compile_text
from wechat_campaigns.domain.settings import BY_NAME
from wechat_campaigns.domain.spec import MessageKind
from wechat_campaigns.domain.templates import template_fields

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)
MASS, CS, TEMPLATE = MessageKind.MASS, MessageKind.CUSTOMER_SERVICE, MessageKind.TEMPLATE


def fan(**facts):
    return FanFacts(openid="o" + "x" * 27, **facts)


@pytest.mark.parametrize(
    ("kind", "facts", "reason"),
    [
        (MASS, {"mass_this_month": 4}, Reason.MONTHLY_CAP),
        (MASS, {"mass_this_month": 3}, None),
        (TEMPLATE, {"mass_this_month": 9}, None),  # the cap is for mass messages only
        (TEMPLATE, {"blocks_templates": True}, Reason.BLOCKED),
        (MASS, {"blocks_templates": True}, None),
        (MASS, {"subscribed": False}, Reason.UNSUBSCRIBED),
        (TEMPLATE, {"subscribed": None}, None),  # not heard either way: WeChat will tell
        (TEMPLATE, {"blacklisted": True}, Reason.BLACKLISTED),
        (CS, {}, Reason.OUTSIDE_48H),
    ],
)
def test_exclusion_reasons(kind, facts, reason):
    assert exclusion(kind, fan(**facts), NOW) == reason


def window(cls, ago, sent=0):
    return {cls: Window(opened_at=NOW - ago, sent=sent)}


@pytest.mark.parametrize(
    ("windows", "reason"),
    [
        (window(WindowClass.MESSAGE, timedelta(hours=47, minutes=59)), None),
        (window(WindowClass.MESSAGE, timedelta(hours=48)), Reason.OUTSIDE_48H),
        (window(WindowClass.MESSAGE, timedelta(hours=1), sent=5), Reason.WINDOW_QUOTA),
        (window(WindowClass.MENU, timedelta(seconds=30)), None),
        (window(WindowClass.MENU, timedelta(minutes=2)), Reason.OUTSIDE_48H),  # a click answers for one minute
        (window(WindowClass.SUBSCRIBE, timedelta(seconds=59), sent=3), Reason.WINDOW_QUOTA),
        # since August 2023 a payment or a rights complaint opens no window, and the reason says so
        (window(WindowClass.PAYMENT, timedelta(hours=40)), Reason.OPENS_NO_WINDOW),
        (window(WindowClass.RIGHTS_COMPLAINT, timedelta(hours=1)), Reason.OPENS_NO_WINDOW),
        ({**window(WindowClass.PAYMENT, timedelta(hours=1)), **window(WindowClass.SCAN, timedelta(seconds=10))}, None),
    ],
)
def test_customer_service_window(windows, reason):
    assert exclusion(CS, fan(windows=windows), NOW) == reason


@pytest.mark.parametrize(
    ("windows", "reason"),
    [
        (window(WindowClass.MESSAGE, timedelta(hours=1), sent=19), None),  # 20 in 48 h then
        (window(WindowClass.MESSAGE, timedelta(hours=1), sent=20), Reason.WINDOW_QUOTA),
        (window(WindowClass.PAYMENT, timedelta(hours=40), sent=19), None),
        (window(WindowClass.PAYMENT, timedelta(hours=49)), Reason.OUTSIDE_48H),
    ],
)
def test_an_account_may_keep_the_rules_of_june_2021(windows, reason):
    assert exclusion(CS, fan(windows=windows), NOW, CS_RULES_BY_NAME["2021-06"]) == reason


def test_todays_rules_are_the_default_and_each_rule_set_is_a_choice_of_the_connection():
    assert CURRENT_CS_RULES.name == "2023-08" and CURRENT_CS_RULES.in_force_from.isoformat() == "2023-08-01"
    assert BY_NAME["cs_rules"].default == CURRENT_CS_RULES.name
    assert set(BY_NAME["cs_rules"].choices or ()) == set(CS_RULES_BY_NAME)
    assert WindowClass.PAYMENT not in CURRENT_CS_RULES.windows


def test_any_open_window_with_allowance_left_will_do():
    windows = {
        WindowClass.MESSAGE: Window(NOW - timedelta(hours=1), sent=5),
        WindowClass.MENU: Window(NOW - timedelta(seconds=10), sent=0),
    }
    assert exclusion(CS, fan(windows=windows), NOW) is None


def test_holdout_is_stable_and_close_to_the_share():
    openids = [f"o{i:027d}" for i in range(10_000)]
    held = [o for o in openids if in_holdout("run-1", o, 10)]
    assert 900 < len(held) < 1100
    assert held == [o for o in openids if in_holdout("run-1", o, 10)]
    assert not any(in_holdout("run-1", o, 0) for o in openids)


def test_beijing_calendar():
    late_utc = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 December in Beijing
    assert shanghai_day(late_utc) == "2026-12-01"
    assert shanghai_month(late_utc) == "2026-12"
    assert next_midnight(datetime(2026, 11, 24, 23, 59, tzinfo=SHANGHAI)) == datetime(2026, 11, 25, tzinfo=SHANGHAI)


@pytest.mark.parametrize("fans", [2, 9_999, 10_000, 10_001, 20_001, 1_000_000])
def test_mass_batches_hold_two_to_ten_thousand(fans):
    batches = batch_count(MASS, fans)
    sizes = [0] * batches
    for position in range(fans):
        sizes[batch_of(position, fans, batches)] += 1
    assert all(2 <= size <= 10_000 for size in sizes)
    assert sum(sizes) == fans


def test_slices_are_few_and_share_out_every_batch():
    parts = slices("run", 100, "mass_openids", max_slices=4)
    assert len(parts) == 4
    owners = [[p["index"] for p in parts if owns(p["index"], p["count"], b)] for b in range(100)]
    assert all(len(owner) == 1 for owner in owners)
    assert slices("run", 0, "per_fan") == []


def test_dedup_ids_are_deterministic_and_fit_wechat():
    assert clientmsgid("wechat_campaign/manual__2026" + "x" * 300, 99) == clientmsgid(
        "wechat_campaign/manual__2026" + "x" * 300, 99
    )
    assert len(clientmsgid("k" * 500, 123_456).encode()) <= 64
    assert clientmsgid("a", 1) != clientmsgid("a", 2)
    assert template_client_msg_id("a", "o1") != template_client_msg_id("a", "o2")


def test_render_is_sandboxed_and_strict():
    assert compile_text("{{ name | default('会员') }}好").render({}) == "会员好"
    with pytest.raises(RenderError):
        compile_text("{{ points }}").render({"openid": "o1"})
    with pytest.raises(RenderError):  # the sandbox refuses to walk into Python internals
        compile_text("{{ ''.__class__.__mro__[1].__subclasses__() }}").render({})


def test_template_fields_from_content():
    assert template_fields("商品:{{thing1.DATA}}\n时间:{{ time2.DATA }}\n{{thing1.DATA}}") == ["thing1", "time2"]


def test_error_taxonomy():
    assert classify(45009).action is Action.WAIT_QUOTA
    assert classify(43101).reason == "blocked"
    assert classify(45015).reason == "outside_48h"
    assert classify(123456).action is Action.CAMPAIGN  # unknown: stop and ask a human
    error = WeChatError(40001, "invalid credential rid: 6530f9c7-22efcc6d-303033a5")
    assert error.rid == "6530f9c7-22efcc6d-303033a5" and error.action is Action.REFRESH_TOKEN


def test_a_refused_ip_and_a_missing_permission_say_what_to_do():
    refused = WeChatError(40164, "invalid ip 47.96.1.2 ipv6 ::ffff:47.96.1.2, not in whitelist rid: 1-2-3")
    assert "invalid ip 47.96.1.2" in str(refused) and "add the address to the account's IP whitelist" in str(refused)
    assert "设置与开发 → 基本配置 → IP白名单" in str(refused)
    unauthorized = WeChatError(48001, "api unauthorized rid: 1-2-3")
    assert unauthorized.action is Action.CONFIG  # it stops the campaign: never taken for a stale token
    assert "not a token problem" in str(unauthorized) and "接口权限" in str(unauthorized)
    stale = WeChatError(40001, "invalid credential, could get access_token by getStableAccessToken rid: 1-2-3")
    assert stale.action is Action.REFRESH_TOKEN and stale.rid == "1-2-3"


BEIJING_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("today", "this_month", "once_a_day", "until"),
    [
        (0, 0, True, None),
        (0, 3, True, None),
        (1, 1, True, datetime(2026, 11, 25, tzinfo=SHANGHAI)),  # one a Beijing day: tomorrow
        (1, 1, False, None),  # the daily rule is the account's setting
        (0, 4, True, datetime(2026, 12, 1, tzinfo=SHANGHAI)),  # four a month: next month, not day by day
        (1, 4, True, datetime(2026, 12, 1, tzinfo=SHANGHAI)),
    ],
)
def test_sends_to_all_followers_wait_for_the_limit_they_would_break(today, this_month, once_a_day, until):
    wait = to_all_wait(BEIJING_NOON, today, this_month, once_a_day)
    assert (wait[0] if wait else None) == until
    if wait:
        assert "WeChat allows" in wait[1]


@pytest.mark.parametrize(
    ("subscription", "to_all", "once_a_day", "until"),
    [
        (True, False, True, datetime(2026, 11, 25, tzinfo=SHANGHAI)),  # a subscription account: one a day
        (False, True, True, datetime(2026, 11, 25, tzinfo=SHANGHAI)),  # our month was short of four: the day
        (False, True, False, datetime(2026, 12, 1, tzinfo=SHANGHAI)),
        (False, False, True, datetime(2026, 12, 1, tzinfo=SHANGHAI)),  # a tag's send: the month
    ],
)
def test_no_mass_quota_waits_until_the_limit_that_was_hit_lifts(subscription, to_all, once_a_day, until):
    assert when_mass_quota_returns(BEIJING_NOON, subscription, to_all, once_a_day) == until
