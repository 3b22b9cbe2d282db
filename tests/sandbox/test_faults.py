"""Fault injection: errors before/after the call takes effect, dropped connections, latency."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.fixtures.sandbox import ORDER_PAID

from .conftest import assert_error

TEMPLATE = "/cgi-bin/message/template/send"


def test_before_fault_has_no_effect(service_account, sandbox):
    fan = service_account.openids[0]
    service_account.token()
    sandbox.faults([{"endpoint": TEMPLATE, "errcode": -1, "count": 2}])
    assert_error(service_account.template_send(fan, ORDER_PAID), -1)
    assert_error(service_account.template_send(fan, ORDER_PAID), -1)
    assert service_account.inbox(fan) == []
    assert service_account.template_send(fan, ORDER_PAID)["errcode"] == 0
    assert sandbox.get_faults()["rules"][0]["triggered"] == 2
    assert sandbox.stats(service_account.appid)["errors"]["-1"] == 2


def test_after_fault_takes_effect_then_fails(service_account, sandbox):
    fan = service_account.openids[0]
    service_account.token()
    sandbox.faults([{"endpoint": TEMPLATE, "errcode": 45011, "phase": "after", "count": 1}])
    assert_error(service_account.template_send(fan, ORDER_PAID, client_msg_id="c1"), 45011)
    assert len(service_account.inbox(fan)) == 1
    retry = service_account.template_send(fan, ORDER_PAID, client_msg_id="c1")
    assert retry["errcode"] == 0 and len(service_account.inbox(fan)) == 1  # de-duplicated


@pytest.mark.parametrize(("phase", "delivered"), [("before", 0), ("after", 1)])
def test_dropped_connection(service_account, sandbox, phase, delivered):
    fan = service_account.openids[0]
    token = service_account.token()
    sandbox.faults([{"endpoint": TEMPLATE, "drop": True, "phase": phase, "count": 1}])
    data = {k: {"value": v} for k, v in ORDER_PAID.items()}
    body = json.dumps({"touser": fan, "template_id": service_account.template_id, "data": data}, ensure_ascii=False)
    url = f"{service_account.base_url}{TEMPLATE}"
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(url, params={"access_token": token}, data=body.encode(), timeout=5).json()
    assert len(service_account.inbox(fan)) == delivered
    assert service_account.template_send(fan, ORDER_PAID)["errcode"] == 0


def test_latency_and_prefix_and_admin_unaffected(service_account, sandbox):
    service_account.token()
    sandbox.faults([{"endpoint": "/cgi-bin/tags/", "latency_ms": 300}])
    started = time.monotonic()
    assert "tags" in service_account.call("/cgi-bin/tags/get", method="GET")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    service_account.template_send(service_account.openids[0], ORDER_PAID)
    sandbox.stats()
    assert time.monotonic() - started < 0.3


def test_every_path_by_default_rate_and_seed(service_account, sandbox):
    service_account.token()

    def pattern():
        sandbox.faults([{"errcode": -1, "rate": 0.5}], seed=7)
        return [service_account.call("/cgi-bin/tags/get", method="GET").get("errcode", 0) for _ in range(20)]

    first = pattern()
    assert first == pattern()  # the same seed gives the same faults
    assert 0 < first.count(-1) < 20
    sandbox.clear_faults()
    assert sandbox.get_faults() == {"rules": []}
    assert "tags" in service_account.call("/cgi-bin/tags/get", method="GET")


def test_lost_mass_answer_then_retry_gets_the_existing_job(service_account, sandbox):
    fans = service_account.openids
    token = service_account.token()
    sandbox.faults([{"endpoint": "/cgi-bin/message/mass/send", "drop": True, "phase": "after", "count": 1}])
    message = {"touser": fans, "msgtype": "text", "text": {"content": "补发"}, "clientmsgid": "run-7-batch-0"}
    body = json.dumps(message, ensure_ascii=False)
    url = f"{service_account.base_url}/cgi-bin/message/mass/send"
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(url, params={"access_token": token}, data=body.encode(), timeout=5).json()
    retry = requests.post(url, params={"access_token": token}, data=body.encode(), timeout=5).json()
    assert_error(retry, 45065)
    (job,) = sandbox.mass_jobs(service_account.appid)
    assert retry["msg_id"] == job["msg_id"]
    assert all(len(service_account.inbox(fan)) == 1 for fan in fans)
