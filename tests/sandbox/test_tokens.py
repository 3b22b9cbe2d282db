"""Access tokens: classic rotation, stable_token modes and limits, and how the API treats bad tokens."""

from __future__ import annotations

import json

import requests

from .conftest import assert_error


def classic(account, **params):
    query = {"grant_type": "client_credential", "appid": account.appid, "secret": account.secret, **params}
    return requests.get(f"{account.base_url}/cgi-bin/token", params=query, timeout=10).json()


def stable(account, **body):
    payload = {"grant_type": "client_credential", "appid": account.appid, "secret": account.secret, **body}
    return requests.post(f"{account.base_url}/cgi-bin/stable_token", json=payload, timeout=10).json()


def tags(account, token):
    return account.call("/cgi-bin/tags/get", method="GET", token=token)


def test_classic_token_rotates_and_the_old_one_lives_five_minutes(service_account, sandbox):
    first = classic(service_account)
    assert set(first) == {"access_token", "expires_in"} and first["expires_in"] == 7200
    second = classic(service_account)
    assert second["access_token"] != first["access_token"]
    sandbox.advance_clock(299)
    assert "tags" in tags(service_account, first["access_token"])
    sandbox.advance_clock(2)
    assert_error(tags(service_account, first["access_token"]), 40001)
    assert "tags" in tags(service_account, second["access_token"])


def test_classic_token_errors(service_account):
    assert_error(classic(service_account, grant_type="password"), 40002)
    assert_error(classic(service_account, appid="wxnobody"), 40013)
    assert_error(classic(service_account, secret="wrong"), 40125)


def test_stable_token_normal_mode_returns_the_same_token_then_renews_in_the_last_five_minutes(service_account, sandbox):
    first = stable(service_account)
    assert first["expires_in"] == 7200
    sandbox.advance_clock(100)
    again = stable(service_account)
    assert again["access_token"] == first["access_token"] and 7098 <= again["expires_in"] <= 7100
    sandbox.advance_clock(7200 - 100 - 200)  # 200 s left: inside the renewal window
    renewed = stable(service_account)
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == 7200
    assert "tags" in tags(service_account, first["access_token"])  # both valid meanwhile
    sandbox.advance_clock(201)
    assert_error(tags(service_account, first["access_token"]), 42001)
    assert "tags" in tags(service_account, renewed["access_token"])
    assert sandbox.stats(service_account.appid)["stable_token_refreshes"] == 2


def test_stable_force_refresh_keeps_the_old_token_five_minutes_and_waits_30_seconds(service_account, sandbox):
    old = stable(service_account)["access_token"]
    assert stable(service_account, force_refresh=True)["access_token"] == old  # within 30 s of the last refresh
    sandbox.advance_clock(31)
    new = stable(service_account, force_refresh=True)["access_token"]
    assert new != old
    assert "tags" in tags(service_account, old)
    sandbox.advance_clock(301)
    assert_error(tags(service_account, old), 40001)
    assert stable(service_account)["access_token"] == new


def test_stable_force_refresh_is_limited_to_20_a_day(service_account, sandbox):
    sandbox.set_clock("2026-03-10T08:00:00+08:00")
    for _ in range(20):
        sandbox.advance_clock(31)
        assert "access_token" in stable(service_account, force_refresh=True)
    sandbox.advance_clock(31)
    assert_error(stable(service_account, force_refresh=True), 45009)
    assert "access_token" in stable(service_account)  # normal mode still works
    sandbox.set_clock("2026-03-11T00:00:30+08:00")  # next Beijing day
    assert "access_token" in stable(service_account, force_refresh=True)


def test_stable_token_errors_and_expires_in_per_account(sandbox):
    from tests.fixtures.sandbox import make_standard_account

    account = make_standard_account(sandbox, token_expires_in=3600)
    assert stable(account)["expires_in"] == 3600
    assert_error(stable(account, appid="wxnobody"), 40013)
    assert_error(stable(account, secret="wrong"), 40125)
    assert_error(stable(account, grant_type="x"), 40002)


def test_stable_and_classic_tokens_are_independent(service_account):
    stable_token = stable(service_account)["access_token"]
    classic(service_account)
    classic(service_account)
    assert stable(service_account)["access_token"] == stable_token
    assert "tags" in tags(service_account, stable_token)


def test_token_problems_on_api_calls(service_account, sandbox):
    url = f"{service_account.base_url}/cgi-bin/tags/get"
    assert_error(requests.get(url, timeout=10).json(), 41001)
    assert_error(requests.get(url, params={"access_token": "short!"}, timeout=10).json(), 40014)
    assert_error(requests.get(url, params={"access_token": "A" * 136}, timeout=10).json(), 40001)
    token = service_account.token()
    assert sandbox.expire_tokens(service_account.appid) == 1
    assert_error(tags(service_account, token), 42001)
    fresh = service_account.token()
    assert fresh != token
    assert sandbox.invalidate_tokens(service_account.appid) == 1
    assert_error(tags(service_account, fresh), 40001)
    newest = service_account.token()
    assert newest not in (token, fresh) and "tags" in tags(service_account, newest)


def test_error_texts_as_wechat_words_them_now(service_account, sandbox):
    stale = service_account.token()
    sandbox.invalidate_tokens(service_account.appid)
    answer = tags(service_account, stale)
    assert_error(answer, 40001)
    assert answer["errmsg"].startswith(
        "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken,"
        " more details at https://mmbizurl.cn/s/JtxxFh33r rid: "
    )
    fresh = service_account.token()
    sandbox.update_account(service_account.appid, ip_whitelist=["10.1.2.3"])
    for refused in (stable(service_account), classic(service_account), tags(service_account, fresh)):
        assert_error(refused, 40164)
        assert refused["errmsg"].startswith("invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: ")
    sandbox.update_account(service_account.appid, ip_whitelist=["10.1.2.3", "127.0.0.1"])
    assert "tags" in tags(service_account, fresh)


def test_error_shape_bad_json_empty_body_and_unicode_escapes(service_account):
    token = service_account.token()
    url = f"{service_account.base_url}/cgi-bin/message/custom/send"
    response = requests.post(url, params={"access_token": token}, data=b"{not json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert_error(response.json(), 47001)
    assert_error(requests.post(url, params={"access_token": token}, data=b"", timeout=10).json(), 44002)
    escaped = json.dumps({"touser": service_account.openids[0], "msgtype": "text", "text": {"content": "你好"}})
    assert_error(requests.post(url, params={"access_token": token}, data=escaped, timeout=10).json(), 40033)
    rids = {
        requests.post(url, params={"access_token": token}, data=b"[", timeout=10).json()["errmsg"] for _ in range(3)
    }
    assert len(rids) == 3  # a fresh rid each time


def test_replies_are_raw_utf8(service_account):
    service_account.call("/cgi-bin/tags/create", {"tag": {"name": "广东"}})
    response = requests.get(
        f"{service_account.base_url}/cgi-bin/tags/get", params={"access_token": service_account.token()}, timeout=10
    )
    assert "广东".encode() in response.content
