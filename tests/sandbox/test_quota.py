"""Quota APIs: openapi/quota/get, clear_quota (10 a month), clear_quota/v2, openapi/quota/clear (50 a month)."""

from __future__ import annotations

import requests

from tests.fixtures.sandbox import ORDER_PAID, make_standard_account

from .conftest import assert_error


def quota(account, path):
    return account.call("/cgi-bin/openapi/quota/get", {"cgi_path": path})


def test_quota_get_reports_defaults_and_use(service_account):
    for _ in range(3):
        service_account.template_send(service_account.openids[0], ORDER_PAID)
    answer = quota(service_account, "/cgi-bin/message/template/send")
    assert answer["errcode"] == 0
    assert answer["quota"] == {"daily_limit": 100_000, "used": 3, "remain": 99_997}
    assert quota(service_account, "/cgi-bin/message/custom/send")["quota"]["daily_limit"] == 500_000
    assert quota(service_account, "/cgi-bin/user/get")["quota"]["daily_limit"] == 500
    assert quota(service_account, "/cgi-bin/draft/add")["quota"]["daily_limit"] == 1_000
    mass = quota(service_account, "/cgi-bin/message/mass/sendall")
    assert mass["quota"]["daily_limit"] == 100 and mass["rate_limit"] == {"call_count": 60, "refresh_second": 60}
    assert quota(service_account, "/cgi-bin/stable_token")["quota"]["used"] >= 1
    assert_error(quota(service_account, "cgi-bin/user/get"), 76003)
    assert_error(quota(service_account, "/cgi-bin/nothing/here"), 76021)


def test_clear_quota_resets_counters_ten_times_a_month(sandbox):
    account = make_standard_account(sandbox, quotas={"/cgi-bin/message/template/send": 1})
    sandbox.set_clock("2026-08-05T10:00:00+08:00")
    assert account.template_send(account.openids[0], ORDER_PAID)["errcode"] == 0
    assert_error(account.template_send(account.openids[0], ORDER_PAID), 45009)
    assert_error(account.call("/cgi-bin/clear_quota", {"appid": "wxsomeoneelse"}), 40013)
    assert account.call("/cgi-bin/clear_quota", {"appid": account.appid}) == {"errcode": 0, "errmsg": "ok"}
    assert account.template_send(account.openids[0], ORDER_PAID)["errcode"] == 0
    for _ in range(9):
        assert account.call("/cgi-bin/clear_quota", {"appid": account.appid})["errcode"] == 0
    assert_error(account.call("/cgi-bin/clear_quota", {"appid": account.appid}), 48006)
    sandbox.set_clock("2026-09-01T00:00:01+08:00")
    assert account.call("/cgi-bin/clear_quota", {"appid": account.appid})["errcode"] == 0


def test_clear_quota_v2_needs_no_token(sandbox):
    account = make_standard_account(sandbox, quotas={"/cgi-bin/stable_token": 1})
    account.token()
    body = {"grant_type": "client_credential", "appid": account.appid, "secret": account.secret}
    assert_error(requests.post(f"{account.base_url}/cgi-bin/stable_token", json=body, timeout=10).json(), 45009)
    url = f"{account.base_url}/cgi-bin/clear_quota/v2"
    assert_error(requests.post(url, json={"appid": account.appid, "appsecret": "wrong"}, timeout=10).json(), 40125)
    assert_error(requests.post(url, json={"appid": "wxnobody", "appsecret": "x"}, timeout=10).json(), 40013)
    ok = requests.post(url, json={"appid": account.appid, "appsecret": account.secret}, timeout=10).json()
    assert ok == {"errcode": 0, "errmsg": "ok"}
    assert "access_token" in requests.post(f"{account.base_url}/cgi-bin/stable_token", json=body, timeout=10).json()


def test_daily_counters_reset_at_beijing_midnight(sandbox):
    account = make_standard_account(sandbox, quotas={"/cgi-bin/user/get": 1})
    sandbox.set_clock("2026-08-05T23:59:00+08:00")  # 15:59 UTC: a UTC day would not roll over here
    assert "total" in account.call("/cgi-bin/user/get", method="GET")
    assert_error(account.call("/cgi-bin/user/get", method="GET"), 45009)
    sandbox.set_clock("2026-08-06T00:00:01+08:00")
    assert "total" in account.call("/cgi-bin/user/get", method="GET")


def test_quota_clear_resets_one_api_fifty_times_a_month(sandbox):
    custom, template = "/cgi-bin/message/custom/send", "/cgi-bin/message/template/send"
    account = make_standard_account(sandbox, quotas={custom: 1, template: 5})
    sandbox.set_clock("2026-08-05T10:00:00+08:00")
    fan = account.openids[0]
    sandbox.event(account.appid, fan, "text")
    message = {"touser": fan, "msgtype": "text", "text": {"content": "您好"}}
    assert account.call(custom, message)["errcode"] == 0
    assert_error(account.call(custom, message), 45009)
    assert account.template_send(fan, ORDER_PAID)["errcode"] == 0
    clear = {"cgi_path": custom}
    assert account.call("/cgi-bin/openapi/quota/clear", clear) == {"errcode": 0, "errmsg": "ok"}
    assert quota(account, custom)["quota"] == {"daily_limit": 1, "used": 0, "remain": 1}
    assert quota(account, template)["quota"]["used"] == 1  # the other APIs keep their count
    assert account.call(custom, message)["errcode"] == 0
    assert_error(account.call("/cgi-bin/openapi/quota/clear", {"cgi_path": "cgi-bin/x"}), 76003)
    assert_error(account.call("/cgi-bin/openapi/quota/clear", {}), 76003)
    assert_error(account.call("/cgi-bin/openapi/quota/clear", {"cgi_path": "/cgi-bin/nothing/here"}), 76021)
    for _ in range(49):
        assert account.call("/cgi-bin/openapi/quota/clear", clear)["errcode"] == 0
    over = account.call("/cgi-bin/openapi/quota/clear", clear)
    assert_error(over, 48006)
    assert over["errmsg"].startswith("forbid to clear quota because of reaching the limit")
    assert account.call("/cgi-bin/clear_quota", {"appid": account.appid})["errcode"] == 0  # a budget of its own
    sandbox.set_clock("2026-09-01T00:00:01+08:00")
    assert account.call("/cgi-bin/openapi/quota/clear", clear)["errcode"] == 0


def test_quota_clear_of_mass_send_clears_the_shared_counter(sandbox):
    account = make_standard_account(sandbox, quotas={"/cgi-bin/message/mass/sendall": 1})
    body = {"touser": account.openids[:2], "msgtype": "text", "text": {"content": "x"}}
    assert account.call("/cgi-bin/message/mass/send", body)["errcode"] == 0
    assert_error(account.call("/cgi-bin/message/mass/send", body), 45009)
    cleared = account.call("/cgi-bin/openapi/quota/clear", {"cgi_path": "/cgi-bin/message/mass/send"})
    assert cleared["errcode"] == 0
    assert quota(account, "/cgi-bin/message/mass/sendall")["quota"]["used"] == 0
    assert account.call("/cgi-bin/message/mass/send", body)["errcode"] == 0
