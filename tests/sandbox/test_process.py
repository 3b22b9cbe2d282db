"""The sandbox as a process: ready line, clean stop on SIGTERM/SIGINT, seed files, saved state."""

from __future__ import annotations

import json
import re
import signal

import requests

from tests.fixtures.sandbox import ROOT, launch_sandbox
from wechat_sandbox.admin import SandboxAdmin


def test_ready_line_and_sigint(tmp_path):
    running = launch_sandbox()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", running.base_url)
    assert requests.get(f"{running.base_url}/sandbox/health", timeout=5).json()["ok"] is True
    assert running.stop(signal.SIGINT) == 0


def test_seed_file_and_state_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    running = launch_sandbox(seed=ROOT / "wechat_sandbox/seeds/example.yaml", state=state)
    base = running.base_url
    admin = SandboxAdmin(base)
    account = admin.account("wx0123456789abcdef")
    assert account["counts"]["fans"] == 1004 and account["type"] == "service"
    assert admin.account("wxfedcba9876543210")["type"] == "subscription"
    admin.set_clock(admin.clock()[:10] + "T12:00:00")  # midday: the Beijing day does not change during the test
    body = {"grant_type": "client_credential", "appid": "wx0123456789abcdef", "secret": "sandbox-secret-service"}
    token = requests.post(f"{base}/cgi-bin/stable_token", json=body, timeout=5).json()["access_token"]
    alice = "oDemoFanAlice0000000000000001"
    message = {"touser": alice, "msgtype": "text", "text": {"content": "保存前"}}
    answer = requests.post(
        f"{base}/cgi-bin/message/custom/send",
        params={"access_token": token},
        data=json.dumps(message, ensure_ascii=False).encode(),
        timeout=5,
    ).json()
    assert answer["errcode"] == 0
    # ASCII content: requests escapes the rest
    to_all = {"filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": "hello, all"}}
    sendall = f"{base}/cgi-bin/message/mass/sendall"
    assert requests.post(sendall, params={"access_token": token}, json=to_all, timeout=5).json()["errcode"] == 0
    admin.update_account("wx0123456789abcdef", next_mass_outcome={"status": "send fail"})
    admin.advance_clock(60)
    assert admin.save() == str(state) and state.exists()
    assert running.stop() == 0

    restarted = launch_sandbox(state=state)
    admin = SandboxAdmin(restarted.base_url)
    assert admin.inbox("wx0123456789abcdef", alice)[0]["content"] == {"content": "保存前"}
    tags = requests.get(f"{restarted.base_url}/cgi-bin/tags/get", params={"access_token": token}, timeout=5).json()
    assert {t["name"] for t in tags["tags"]} >= {"vip", "shanghai", "newsletter"}  # the token is still valid
    assert admin.fan("wx0123456789abcdef", alice)["windows"]["message"]["used"] == 1
    again = requests.post(
        f"{restarted.base_url}/cgi-bin/message/mass/sendall", params={"access_token": token}, json=to_all, timeout=5
    )
    assert again.json()["errcode"] == 45028  # the day's send to all was kept
    assert admin.account("wx0123456789abcdef")["next_mass_outcome"]["status"] == "send fail"
    assert restarted.stop() == 0

    saved = json.loads(state.read_text(encoding="utf-8"))  # a file written before the newer counters existed
    for account_data in saved["accounts"]:
        for name in ("to_all_day", "clear_api_quota_month"):
            del account_data[name]
    state.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    older = launch_sandbox(state=state)
    assert SandboxAdmin(older.base_url).account("wx0123456789abcdef")["counts"]["fans"] == 1004
    assert older.stop() == 0


def test_save_without_state_file(sandbox):
    from wechat_sandbox.admin import SandboxAdminError

    try:
        sandbox.save()
    except SandboxAdminError as exc:
        assert exc.status == 409
    else:
        raise AssertionError("save without --state must fail")
