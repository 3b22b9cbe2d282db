"""The admin API itself: accounts, fan groups, events, inbox counts, stats, reset, errors."""

from __future__ import annotations

import time

import pytest
import requests

from tests.fixtures.sandbox import ORDER_PAID
from wechat_sandbox.admin import SandboxAdminError


def test_account_view_and_defaults(sandbox):
    view = sandbox.create_account("wxdefaults", "s3cret")
    assert view["type"] == "service" and view["verified"] is True and view["encrypt_mode"] == "plain"
    assert view["original_id"].startswith("gh_") and len(view["original_id"]) == 15
    assert len(view["encoding_aes_key"]) == 43 and view["token_expires_in"] == 7200
    assert view["mass_finish_delay"] == 0.5
    assert view["effective_quotas"]["/cgi-bin/message/template/send"] == 100_000
    assert view["effective_kf_windows"]["message"] == [172800, 5]
    assert sandbox.account("wxdefaults")["tokens"] == []
    with pytest.raises(SandboxAdminError):
        sandbox.create_account("wxbad", "s", type="enterprise")
    with pytest.raises(SandboxAdminError):
        sandbox.create_account("wxbad", "s", encoding_aes_key="short")
    with pytest.raises(SandboxAdminError) as error:
        sandbox.account("wxmissing")
    assert error.value.status == 404


def test_fan_groups_are_deterministic_and_fast(sandbox):
    sandbox.create_account("wxbig", "s")
    started = time.monotonic()
    answer = sandbox.add_fans("wxbig", fan_groups=[{"count": 200_000, "prefix": "oBig", "tags": ["all"]}])
    elapsed = time.monotonic() - started
    assert answer["created"] == 200_000 and answer["total"] == 200_000 and "openids" not in answer
    assert elapsed < 10, elapsed
    again = sandbox.add_fans("wxbig", fan_groups=[{"count": 3, "prefix": "oBig"}], return_openids=True)
    assert again["created"] == 0 and again["updated"] == 3
    assert again["openids"][0] == "oBig" + "0" * 24 and all(len(o) == 28 for o in again["openids"])
    other = sandbox.add_fans("wxbig", fan_groups=[{"count": 2}], return_openids=True)["openids"]
    assert all(len(o) == 28 for o in other)


def test_inbox_counts(service_account, sandbox):
    a, b = service_account.openids[:2]
    service_account.template_send(a, ORDER_PAID)
    service_account.template_send(a, ORDER_PAID)
    service_account.template_send(b, ORDER_PAID)
    service_account.call("/cgi-bin/message/mass/send", {"touser": [a, b], "msgtype": "text", "text": {"content": "x"}})
    assert sandbox.inbox_counts(service_account.appid) == {a: 3, b: 2}
    assert sandbox.inbox_counts(service_account.appid, kind="template") == {a: 2, b: 1}
    assert sandbox.inbox_counts(service_account.appid, msgtype="text") == {a: 1, b: 1}


def test_events_validation(service_account, sandbox):
    with pytest.raises(SandboxAdminError) as error:
        sandbox.event(service_account.appid, "oNobody000000000000000000000", "text")
    assert error.value.status == 404
    with pytest.raises(SandboxAdminError):
        sandbox.event(service_account.appid, service_account.openids[0], "dance")
    sandbox.event(service_account.appid, service_account.openids[0], "unsubscribe")
    with pytest.raises(SandboxAdminError) as error:
        sandbox.event(service_account.appid, service_account.openids[0], "text")
    assert error.value.status == 409
    answer = sandbox.event(service_account.appid, service_account.openids[1], "text", at="2026-01-01T10:00:00+08:00")
    assert answer["create_time"] == 1767232800
    assert answer["window"]["expires_at"].startswith("2026-01-03T10:00:00")


def test_stats_and_reset(service_account, sandbox):
    service_account.template_send(service_account.openids[0], ORDER_PAID)
    service_account.template_send("oNobody000000000000000000000", ORDER_PAID)
    stats = sandbox.stats(service_account.appid)
    assert stats["calls"]["/cgi-bin/message/template/send"] == 2
    assert stats["errors"] == {"40003": 1}
    assert stats["errors_by_path"] == {"/cgi-bin/message/template/send": {"40003": 1}}
    assert stats["stable_token_refreshes"] == 1 and stats["mass_jobs"] == 0
    sandbox.faults([{"errcode": -1}])
    sandbox.set_clock("2030-01-01T00:00:00+08:00")
    sandbox.reset()
    assert sandbox.get_faults() == {"rules": []} and not sandbox.clock().startswith("2030")
    assert requests.get(f"{sandbox.base_url}/sandbox/accounts", timeout=5).json() == {"accounts": []}
    assert sandbox.stats()["total_calls"] == 0


def test_unknown_paths(sandbox):
    assert requests.get(f"{sandbox.base_url}/cgi-bin/nope", timeout=5).status_code == 404
    assert requests.get(f"{sandbox.base_url}/sandbox/nope", timeout=5).status_code == 404
    assert requests.post(f"{sandbox.base_url}/sandbox/fans", data=b"{", timeout=5).status_code == 400
