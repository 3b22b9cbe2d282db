"""An account's settings are defined once (domain.settings): the connection form shows them, the hook reads
them, with the same defaults, and a bad value names the setting and what it must be."""

from __future__ import annotations

import pytest

from wechat_campaigns.domain.account import DEFAULT_DAILY_QUOTAS, AccountSettings
from wechat_campaigns.domain.settings import BY_NAME, SETTINGS, read_settings
from wechat_campaigns.provider_info import CONNECTION_FIELDS


def test_the_form_offers_every_setting_with_the_defaults_the_hook_uses():
    assert list(CONNECTION_FIELDS) == [setting.name for setting in SETTINGS]
    defaults = read_settings("wechat_x", {})
    plain = AccountSettings(appid="wx")
    for name in ("verified", "rate_limit", "confirm_threshold", "schedule_horizon_days", "send_slots"):
        assert getattr(plain, name) == defaults[name] == CONNECTION_FIELDS[name]["schema"]["default"]
    assert plain.account_type.value == defaults["account_type"]
    assert DEFAULT_DAILY_QUOTAS["/cgi-bin/message/mass/send"] == defaults["mass_daily_quota"] == 100


@pytest.mark.parametrize(
    ("name", "raw", "said"),
    [
        ("callback_max_age", "forever", "callback_max_age must be a whole number of seconds from 30 to 3600"),
        ("callback_max_age", 5, "callback_max_age must be a whole number of seconds from 30 to 3600, not 5"),
        ("rate_limit", "0", "rate_limit must be a number of at least 1, not '0'"),
        ("send_slots", "2.5", "send_slots must be a whole number of at least 1, not '2.5'"),
        ("retry_max_wait", -1, "retry_max_wait must be a number of at least 0"),
        ("verified", "maybe", "verified must be true or false, not 'maybe'"),
        ("callback_mode", "secret", "callback_mode must be 'plaintext' or 'compatible' or 'safe'"),
        ("encoding_aes_key", "short", "encoding_aes_key must be 43 characters"),
        ("template_daily_quota", True, "template_daily_quota must be a whole number of at least 0, not True"),
    ],
)
def test_a_bad_value_names_the_setting_and_what_it_must_be(name, raw, said):
    with pytest.raises(ValueError, match="connection 'wechat_x': " + said.replace("(", r"\(")):
        BY_NAME[name].read("wechat_x", raw)


@pytest.mark.parametrize(("raw", "value"), [("false", False), ("No", False), ("0", False), ("on", True), (True, True)])
def test_booleans_as_the_form_and_json_store_them(raw, value):
    assert BY_NAME["verified"].read("wechat_x", raw) is value


def test_numbers_as_strings_from_the_form():
    values = read_settings("wechat_x", {"rate_limit": "50.5", "send_slots": "3", "confirm_threshold": 0})
    assert (values["rate_limit"], values["send_slots"], values["confirm_threshold"]) == (50.5, 3, 0)
