"""The way out to WeChat as production has it: an egress proxy (WeChat answers only whitelisted IPs, often the
proxy's) and HTTPS, here with the sandbox's certificate from a test CA. Campaigns of each kind go through a
real forward proxy process (proxy.py) and over HTTPS; a certificate that is not trusted stops the run, with
an error that says what to set, before any fan is sent anything."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import CampaignHarness, connect
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from wechat_campaigns.store.fans import add_interactions

pytestmark = pytest.mark.slow

FANS = 40
OPENIDS = [f"oEgressFan{i:018d}" for i in range(FANS)]
VALUES = {"template_data": ORDER_PAID}
KINDS = {
    "template": ("template", "template/send"),
    "mass": ("mass", "mass/send"),
    "customer_service": ("customer_service", "custom/send"),
}


def conf(kind: str) -> dict:
    if kind == "template":
        return {"message_type": "template", "tag": "crowd", "template_id": STANDARD_TEMPLATE, **VALUES}
    if kind == "mass":
        return {"message_type": "mass", "openids": OPENIDS, "text": "冬季上新"}
    return {"message_type": "customer_service", "tag": "crowd", "text": "您好，{{ openid[-4:] }}"}


def harness(campaign_dag, admin, store_url, monkeypatch, **extra) -> CampaignHarness:
    fans = [{"openid": openid, "tags": ["crowd"], "last_interaction": {"kind": "text"}} for openid in OPENIDS]
    account = make_standard_account(admin, fans=fans)
    connect(monkeypatch, account, store_url, retry_max_wait=0.2, **extra)
    campaign = CampaignHarness(campaign_dag, account, store_url)
    now = datetime.now(UTC).timestamp()
    rows = [{"openid": openid, "kind": "text", "at": now - 60, "source": "import"} for openid in OPENIDS]
    add_interactions(campaign.engine, account.appid, rows)
    return campaign


def everyone_got_it_once(campaign: CampaignHarness, run, kind: str) -> None:
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received(KINDS[kind][0]) == dict.fromkeys(OPENIDS, 1)
    assert campaign.history(run)["counts"]["status"] == {"sent": FANS}


def calls_seen(proxy_lines: list[str], what: str) -> int:
    return sum(line.startswith(what) for line in proxy_lines)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_campaign_goes_through_the_connections_proxy(
    campaign_dag, sandbox, store_url, monkeypatch, forward_proxy, kind
):
    campaign = harness(campaign_dag, sandbox, store_url, monkeypatch, proxy=forward_proxy.url)
    run = campaign.run(**conf(kind))
    everyone_got_it_once(campaign, run, kind)
    seen, host = forward_proxy.seen(), sandbox.base_url.removeprefix("http://")
    sends = calls_seen(seen, f"POST {host} /cgi-bin/message/{KINDS[kind][1]}")
    assert sends == (1 if kind == "mass" else FANS), seen[-5:]  # every send went through the proxy
    assert all(line.split()[1] == host for line in seen)  # plain HTTP calls to the sandbox, no tunnel
    assert any(line.endswith(" /cgi-bin/stable_token") for line in seen)


def test_the_https_proxy_environment_is_used_when_the_connection_names_none(
    campaign_dag, sandbox, store_url, monkeypatch, forward_proxy
):
    campaign = harness(campaign_dag, sandbox, store_url, monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)  # the sandbox is http://; for WeChat's https://, HTTPS_PROXY
    monkeypatch.setenv("NO_PROXY", "in-process.invalid")
    run = campaign.run(**conf("template"))
    everyone_got_it_once(campaign, run, "template")
    assert calls_seen(forward_proxy.seen(), "POST") >= FANS


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_campaign_over_https_through_the_proxy_with_the_connections_ca_bundle(
    campaign_dag, https_sandbox, ca_files, store_url, monkeypatch, forward_proxy, kind
):
    extra = {"proxy": forward_proxy.url, "ca_bundle": str(ca_files.ca_bundle)}
    campaign = harness(campaign_dag, https_sandbox, store_url, monkeypatch, **extra)
    assert campaign.account.base_url.startswith("https://")
    run = campaign.run(**conf(kind))
    everyone_got_it_once(campaign, run, kind)
    tunnels = [line for line in forward_proxy.seen() if line.startswith("CONNECT ")]  # what a proxy sees of HTTPS
    assert tunnels and all(https_sandbox.base_url.removeprefix("https://") in line for line in tunnels)


@pytest.mark.parametrize("ca", ["another CA", "the system's CAs"])
def test_a_certificate_not_trusted_stops_the_run_before_any_fan_is_sent(
    campaign_dag, https_sandbox, ca_files, store_url, monkeypatch, ca
):
    extra = {"ca_bundle": str(ca_files.other_ca_bundle)} if ca == "another CA" else {}
    campaign = harness(campaign_dag, https_sandbox, store_url, monkeypatch, **extra)
    run = campaign.run(**conf("template"))
    assert run.state == "failed"
    assert campaign.task_states(run)["validate"] == "failed"
    summary = campaign.history(run)
    assert summary["status"] == "failed"
    assert summary["error"].startswith("validate failed: WeChat /cgi-bin/stable_token: no usable answer (the TLS ")
    assert "certificate of 127.0.0.1 is not trusted" in summary["error"]
    assert "set the connection's ca_bundle extra" in summary["error"]
    assert campaign.received() == {}
    assert https_sandbox.stats(campaign.account.appid)["calls"].get("/cgi-bin/stable_token", 0) == 0
