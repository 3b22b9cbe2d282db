"""The trigger form's conf: every bad input names its field; good input becomes a spec."""

from datetime import UTC, datetime, timedelta

import pytest

from wechat_campaigns.domain.account import AccountSettings, AccountType
from wechat_campaigns.domain.clock import SHANGHAI
from wechat_campaigns.domain.spec import (
    AccountFacts,
    InvalidCampaign,
    MessageKind,
    check_against_account,
    parse_campaign,
)

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
FAN = "o" + "A" * 27


def fields_of(conf):
    with pytest.raises(InvalidCampaign) as caught:
        parse_campaign(conf, NOW)
    return caught.value.fields


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"message_type": "sms", "text": "hi"}, "message_type"),
        ({"message_type": "mass"}, "material"),
        ({"message_type": "mass", "material": "text/welcome", "text": "hi"}, "text"),
        ({"message_type": "mass", "material": "../etc/passwd"}, "material"),
        ({"message_type": "template"}, "template_id"),
        ({"message_type": "template", "template_id": "T", "text": "hi"}, "text"),
        ({"message_type": "customer_service", "text": "hi", "template_id": "T"}, "template_id"),
        ({"message_type": "mass", "text": "hi", "openids": ["not-an-openid"]}, "openids"),
        ({"message_type": "mass", "text": "hi", "openids": [FAN, FAN], "tag": "vip"}, "openids"),
        ({"message_type": "mass", "text": "hi", "preview_openids": ["x"]}, "preview_openids"),
        ({"message_type": "mass", "text": "hi", "send_at": "tomorrow morning"}, "send_at"),
        ({"message_type": "mass", "text": "hi", "send_at": "2026-11-24T09:00"}, "send_at"),  # 01:00 UTC: past
        ({"message_type": "mass", "text": "Hello {{ name }}"}, "text"),  # mass is the same for every fan
        ({"message_type": "customer_service", "text": "Hello {{ name "}, "text"),
        (
            {"message_type": "template", "template_id": "T", "template_data": {"thing1": "{% if %}"}},
            "template_data.thing1",
        ),
        ({"message_type": "template", "template_id": "T", "template_data": ["thing1"]}, "template_data"),
        ({"message_type": "template", "template_id": "T", "url": "javascript:alert(1)"}, "url"),
        ({"message_type": "mass", "text": "hi", "holdout_percent": 150}, "holdout_percent"),
        ({"message_type": "mass", "text": "hi", "wechat_conn_id": 7}, "wechat_conn_id"),
    ],
)
def test_bad_conf_names_the_field(conf, field):
    assert field in fields_of(conf)


def test_a_misspelt_key_is_refused_with_the_field_it_meant():
    with pytest.raises(InvalidCampaign) as caught:
        parse_campaign({"message_type": "mass", "tag": "vip", "materal": "text/welcome"}, NOW)
    assert "unknown field 'materal': did you mean 'material'?" in str(caught.value)


def test_a_key_like_no_field_is_refused_listing_the_fields():
    with pytest.raises(InvalidCampaign) as caught:
        parse_campaign({"message_type": "mass", "tag": "vip", "text": "hi", "xyzzy": 1}, NOW)
    said = str(caught.value)
    assert "unknown field 'xyzzy'" in said and "message_type" in said and "template_data" in said


def test_every_field_the_spec_gives_back_is_a_known_key():
    spec = parse_campaign({"message_type": "template", "template_id": "T", "tag": "vip"}, NOW)
    assert parse_campaign(spec.to_conf(), NOW) == spec  # no key of its own conf is unknown


def test_all_problems_are_reported_at_once():
    fields = fields_of({"message_type": "template", "send_at": "soon", "openids": ["x"]})
    assert {"template_id", "send_at", "openids"} <= set(fields)


def test_send_at_without_offset_is_beijing_time():
    spec = parse_campaign({"message_type": "mass", "text": "hi", "send_at": "2026-11-25T09:30"}, NOW)
    assert spec.send_at == datetime(2026, 11, 25, 9, 30, tzinfo=SHANGHAI)
    assert spec.send_at.astimezone(UTC).hour == 1


def test_a_time_typed_a_few_seconds_ago_is_now_not_the_past():
    just_now = (NOW - timedelta(seconds=20)).isoformat()
    assert parse_campaign({"message_type": "mass", "text": "hi", "send_at": just_now}, NOW).send_at


def test_openids_from_the_forms_multiline_field():
    spec = parse_campaign({"message_type": "mass", "text": "hi", "openids": f"{FAN}\n{'o' + 'B' * 27}, "}, NOW)
    assert spec.openids == (FAN, "o" + "B" * 27)
    assert spec.audience == "openids: 2"


def test_template_data_accepts_wechats_value_objects():
    spec = parse_campaign(
        {"message_type": "template", "template_id": "T", "template_data": {"thing1": {"value": "会员日"}}}, NOW
    )
    assert spec.template_data == {"thing1": "会员日"}
    assert spec.kind is MessageKind.TEMPLATE


def test_a_mass_send_to_all_followers_is_a_dry_run_unless_asked_otherwise():
    everybody = {"message_type": "mass", "text": "hi"}
    assert parse_campaign(everybody, NOW).dry_run
    assert not parse_campaign({**everybody, "dry_run": False}, NOW).dry_run
    assert not parse_campaign({**everybody, "tag": "vip"}, NOW).dry_run
    assert not parse_campaign({"message_type": "template", "template_id": "T"}, NOW).dry_run


def test_spec_round_trips_through_its_conf():
    spec = parse_campaign({"message_type": "customer_service", "tag": "vip", "text": "Hi {{ name }}"}, NOW)
    assert parse_campaign(spec.to_conf(), NOW) == spec


SERVICE = AccountSettings(appid="wx1")
FACTS = AccountFacts(settings=SERVICE, tags={"vip": 100}, template_fields={"T1": ["thing1", "time2", "remark"]})


def account_fields(conf, facts=FACTS):
    with pytest.raises(InvalidCampaign) as caught:
        check_against_account(parse_campaign(conf, NOW), facts)
    return caught.value.problems


def test_unknown_tag_lists_the_known_ones():
    (problem,) = account_fields({"message_type": "mass", "text": "hi", "tag": "VIP"})
    assert problem.field == "tag" and "vip" in problem.message


def test_template_must_be_in_the_account():
    (problem,) = account_fields({"message_type": "template", "template_id": "gone", "template_data": {"thing1": "x"}})
    assert problem.field == "template_id"


def test_a_template_not_in_the_account_lists_its_templates_with_their_titles():
    facts = AccountFacts(
        settings=SERVICE,
        tags={},
        template_fields={"tmpl_activity_reminder": ["thing1"], "T2": ["thing1"]},
        template_titles={"tmpl_activity_reminder": "活动提醒", "T2": "订单支付成功通知"},
    )
    (problem,) = account_fields({"message_type": "template", "template_id": "tmpl_activity"}, facts)
    assert str(problem) == (
        "template_id: 'tmpl_activity' is not a template of this account; did you mean 'tmpl_activity_reminder'?"
        " (templates: T2 订单支付成功通知, tmpl_activity_reminder 活动提醒)"
    )


def test_template_fields_missing_and_unknown():
    problems = account_fields({"message_type": "template", "template_id": "T1", "template_data": {"thing9": "x"}})
    assert {p.field for p in problems} == {"template_data.thing1", "template_data.time2", "template_data.thing9"}


def test_remark_is_not_required_since_wechat_stopped_showing_it():
    conf = {"message_type": "template", "template_id": "T1", "template_data": {"thing1": "a", "time2": "b"}}
    check_against_account(parse_campaign(conf, NOW), FACTS)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (AccountSettings(appid="wx", account_type=AccountType.SUBSCRIPTION), "subscription"),
        (AccountSettings(appid="wx", verified=False), "verified"),
    ],
)
def test_template_needs_a_verified_service_account(settings, words):
    facts = AccountFacts(settings=settings, tags={}, template_fields={})
    (problem,) = account_fields({"message_type": "template", "template_id": "T1"}, facts)
    assert problem.field == "message_type" and words in problem.message


def test_subscription_account_gets_one_mass_send_a_day():
    facts = AccountFacts(
        settings=AccountSettings(appid="wx", account_type=AccountType.SUBSCRIPTION),
        tags={},
        template_fields={},
        mass_sends_today=1,
    )
    (problem,) = account_fields({"message_type": "mass", "text": "hi", "openids": [FAN, FAN]}, facts)
    assert problem.field == "message_type"
    # a dry run or a preview is still allowed
    check_against_account(parse_campaign({"message_type": "mass", "text": "hi", "dry_run": True}, NOW), facts)


@pytest.mark.parametrize(
    ("conf", "field", "said"),
    [
        ({"message_type": "mass", "text": "冬季\x00上新", "tag": "vip"}, "text", "control character (U+0000)"),
        ({"message_type": "mass", "text": "\u200b\u200f\u202e", "tag": "vip"}, "text", "no visible character"),
        ({"message_type": "mass", "text": "a" * 20_001, "tag": "vip"}, "text", "20,001 characters"),
        ({"message_type": "mass", "text": "hi", "tag": "vip", "name": "\x1b[31mred"}, "name", "U+001B"),
        (
            {"message_type": "template", "template_id": "T", "tag": "vip", "template_data": {"thing1": "\u2066\u2069"}},
            "template_data.thing1",
            "no visible character",
        ),
        ({"message_type": "mass", "text": "hi", "openids": [FAN] * 100_001}, "openids", "at most 100,000"),
    ],
)
def test_unreadable_or_runaway_values_are_refused_naming_the_field(conf, field, said):
    with pytest.raises(InvalidCampaign) as caught:
        parse_campaign(conf, NOW)
    messages = {problem.field: problem.message for problem in caught.value.problems}
    assert field in messages and said in messages[field], messages


def test_send_at_past_the_accounts_horizon_is_refused_naming_it():
    from wechat_campaigns.domain.spec import check_schedule

    typo = parse_campaign({"message_type": "mass", "text": "hi", "tag": "vip", "send_at": "9999-12-31T09:00"}, NOW)
    with pytest.raises(InvalidCampaign, match=r"send_at: 9999-12-31T09:00:00\+08:00 is more than a year ahead"):
        check_schedule(typo, NOW, 366)
    in_400_days = (NOW + timedelta(days=400)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    later = parse_campaign({"message_type": "mass", "text": "hi", "tag": "vip", "send_at": in_400_days}, NOW)
    with pytest.raises(InvalidCampaign, match="is more than a year ahead"):
        check_schedule(later, NOW, 366)
    check_schedule(later, NOW, 500)  # an account that plans further ahead says so in its connection


def test_a_conf_too_big_or_with_too_many_template_fields_is_refused():
    with pytest.raises(InvalidCampaign, match=r"conf: 5,000,0\d\d bytes of JSON; at most 4,194,304"):
        parse_campaign({"message_type": "mass", "text": "hi", "tag": "vip", "notes": "x" * 5_000_000}, NOW)
    many = {
        "message_type": "template",
        "template_id": "T",
        "tag": "v",
        "template_data": {f"k{i}": "x" for i in range(31)},
    }
    with pytest.raises(InvalidCampaign, match="template_data: 31 fields"):
        parse_campaign(many, NOW)


def test_line_breaks_and_chinese_text_with_emoji_are_fine():
    spec = parse_campaign({"message_type": "mass", "text": "冬季上新 🎁\n第二行\t完", "tag": "vip"}, NOW)
    assert spec.text == "冬季上新 🎁\n第二行\t完"
    soon = (NOW + timedelta(days=300)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    assert parse_campaign({"message_type": "mass", "text": "hi", "tag": "vip", "send_at": soon}, NOW).send_at
