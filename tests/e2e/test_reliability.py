"""The reliability suite: campaigns while WeChat misbehaves. For every fault, each eligible fan's inbox holds
the message exactly once (mass, template) or at most once with `unknown` recorded (customer service), and
the history's counts add up. (A task killed with SIGKILL mid-batch: test_delivery_guarantees.py; a worker
killed on Celery: test_distributed.py.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import CampaignHarness, connect
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account
from wechat_campaigns.store.fans import add_interactions

pytestmark = pytest.mark.slow

FANS = 150
KINDS = ["template", "mass", "customer_service"]
PATH = {"template": "template/send", "mass": "mass/send", "customer_service": "custom/send"}

FAULTS = {
    "busy": lambda path: [
        {"endpoint": path, "errcode": -1, "rate": 0.2},
        {"endpoint": path, "errcode": 45011, "rate": 0.2},
    ],
    "latency spikes": lambda path: [{"endpoint": path, "latency_ms": 1200, "rate": 0.05}],
    "dropped connections": lambda path: [
        {"endpoint": path, "drop": True, "rate": 0.05, "phase": "before"},
        {"endpoint": path, "drop": True, "rate": 0.05, "phase": "after"},
    ],
}


def conf(kind: str) -> dict:
    if kind == "template":
        return {
            "message_type": "template",
            "tag": "crowd",
            "template_id": STANDARD_TEMPLATE,
            "template_data": ORDER_PAID,
        }
    if kind == "mass":  # by list, so that the batch is one mass/send call with a clientmsgid
        return {"message_type": "mass", "openids": [f"oReliableFan{i:016d}" for i in range(FANS)], "text": "冬季上新"}
    return {"message_type": "customer_service", "tag": "crowd", "text": "您好，{{ openid[-4:] }}"}


@pytest.fixture
def crowd(campaign_dag, sandbox, store_url, monkeypatch):
    fans = [
        {"openid": f"oReliableFan{i:016d}", "tags": ["crowd"], "last_interaction": {"kind": "text"}}
        for i in range(FANS)
    ]
    account = make_standard_account(sandbox, fans=fans)
    connect(monkeypatch, account, store_url, retry_max_wait=0.2, send_slots=1)
    harness = CampaignHarness(campaign_dag, account, store_url)
    now = datetime.now(UTC).timestamp()
    add_interactions(
        harness.engine,
        account.appid,
        [{"openid": f["openid"], "kind": "text", "at": now - 60, "source": "import"} for f in fans],
    )
    return harness


def check(campaign: CampaignHarness, run, kind: str) -> dict:
    openids = {f"oReliableFan{i:016d}" for i in range(FANS)}
    received = campaign.received(kind)
    assert set(received.values()) <= {1}, "nobody receives the message twice"
    summary = campaign.history(run)
    by_status = summary["counts"]["status"]
    assert sum(by_status.values()) == summary["counts"]["audience"]  # the counts add up
    if kind == "customer_service":
        unknown = {o for o, (status, _) in campaign.ledger(run).items() if status == "unknown"}
        sent = {o for o, (status, _) in campaign.ledger(run).items() if status == "sent"}
        assert sent <= set(received) <= sent | unknown  # at most once; the uncertain ones are recorded
        assert len(sent) + len(unknown) == len(openids & set(campaign.ledger(run)))
    else:
        assert set(received) == openids  # exactly once
        assert by_status == {"sent": FANS}
    return summary


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", KINDS)
def test_campaigns_under_wechat_faults(crowd, kind, fault):
    rules = FAULTS[fault](f"/cgi-bin/message/{PATH[kind]}")
    if kind == "mass":  # one mass/send call: make each fault hit it once, in turn
        rules = [{**rule, "rate": 1.0, "count": 1} for rule in rules]
    crowd.account.admin.faults(rules, seed=11)
    run = crowd.run(**conf(kind))
    assert run.state == "success", crowd.task_states(run)
    check(crowd, run, kind)
    triggered = sum(rule["triggered"] for rule in crowd.account.admin.get_faults()["rules"])
    assert triggered > 0  # the faults really happened


@pytest.mark.parametrize("kind", KINDS)
def test_a_token_invalidated_in_the_middle_of_a_campaign(crowd, kind):
    admin, appid = crowd.account.admin, crowd.account.appid
    admin.faults([{"endpoint": f"/cgi-bin/message/{PATH[kind]}", "latency_ms": 20}])

    def invalidate_when_half_way():
        deadline = time.monotonic() + 60
        while sum(admin.inbox_counts(appid).values()) < (1 if kind == "mass" else FANS // 2):
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        admin.invalidate_tokens(appid)

    if kind == "mass":  # a single call: invalidate before it, so that the send finds a dead token
        admin.invalidate_tokens(appid)
        crowd.account.token()  # another system holds the new one
        worker = None
    else:
        worker = threading.Thread(target=invalidate_when_half_way)
        worker.start()
    run = crowd.run(**conf(kind))
    if worker:
        worker.join()
    assert run.state == "success", crowd.task_states(run)
    check(crowd, run, kind)


def test_the_sandbox_restarting_in_the_middle_of_a_campaign(campaign_dag, store_url, monkeypatch, tmp_path):
    from tests.fixtures.airflow import free_port
    from wechat_sandbox.admin import SandboxAdmin
    from wechat_sandbox.launch import SandboxServer

    port, state = free_port(), tmp_path / "sandbox-state.json"
    server = SandboxServer(port=port, state=state)
    server.start()
    admin = SandboxAdmin(server.base_url)
    fans = [{"openid": f"oReliableFan{i:016d}", "tags": ["crowd"]} for i in range(FANS)]
    account = make_standard_account(admin, fans=fans)
    connect(monkeypatch, account, store_url, retry_max_wait=2)
    admin.faults([{"endpoint": "/cgi-bin/message/template/send", "latency_ms": 30}])
    harness = CampaignHarness(campaign_dag, account, store_url)

    def restart_half_way():
        while sum(admin.inbox_counts(account.appid).values()) < FANS // 3:
            time.sleep(0.01)
        server.stop()  # SIGTERM: the sandbox saves its state (inboxes, de-duplication records)
        time.sleep(1)
        server.start()  # same port, same state; the fault rules are gone

    restarter = threading.Thread(target=restart_half_way)
    restarter.start()
    try:
        run = harness.run(**conf("template"))
        restarter.join()
        assert run.state == "success", harness.task_states(run)
        harness.account.admin = SandboxAdmin(server.base_url)
        check(harness, run, "template")
    finally:
        server.stop()
