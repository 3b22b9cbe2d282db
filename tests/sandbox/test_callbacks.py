"""Callback pushes: plain, compat and safe modes, signatures, retries, the URL handshake."""

from __future__ import annotations

import time

import pytest

from .conftest import decrypt, sha1_signature, xml_field

TOKEN = "cb-token-123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def configure(sandbox, account, receiver, mode, **extra):
    sandbox.update_account(
        account.appid, callback_url=receiver.url, token=TOKEN, encoding_aes_key=AES_KEY, encrypt_mode=mode, **extra
    )


def test_plain_mode_push_is_signed(service_account, sandbox, receiver):
    configure(sandbox, service_account, receiver, "plain")
    fan = service_account.openids[0]
    answer = sandbox.event(service_account.appid, fan, "text", content="你好 ]]> 世界")
    assert answer["pushed"] and int(answer["msg_id"]) > 2**53
    [request] = receiver.wait_for(1)
    q = request.query
    assert request.method == "POST" and request.path == "/wechat/callback"
    assert q["signature"] == sha1_signature(TOKEN, q["timestamp"], q["nonce"])
    assert "encrypt_type" not in q and q["openid"] == fan
    body = request.body
    assert xml_field(body, "ToUserName") == service_account.original_id
    assert xml_field(body, "FromUserName") == fan and xml_field(body, "MsgType") == "text"
    assert xml_field(body, "MsgId") == answer["msg_id"]
    assert xml_field(body, "CreateTime") == str(answer["create_time"])
    assert "你好 ]]" in body and "世界" in body
    log = sandbox.callbacks(service_account.appid)
    assert log[0]["status"] == "delivered" and log[0]["attempts"][0]["status_code"] == 200
    assert log[0]["attempts"][0]["response"] == "success"


@pytest.mark.parametrize("mode", ["compat", "safe"])
def test_encrypted_modes(service_account, sandbox, receiver, mode):
    configure(sandbox, service_account, receiver, mode)
    fan = service_account.openids[1]
    sandbox.event(service_account.appid, fan, "click", event_key="MENU_SALE")
    [request] = receiver.wait_for(1)
    q, body = request.query, request.body
    assert q["encrypt_type"] == "aes"
    assert q["signature"] == sha1_signature(TOKEN, q["timestamp"], q["nonce"])
    encrypted = xml_field(body, "Encrypt")
    assert q["msg_signature"] == sha1_signature(TOKEN, q["timestamp"], q["nonce"], encrypted)
    xml, appid = decrypt(AES_KEY, encrypted)
    assert appid == service_account.appid
    assert xml_field(xml, "Event") == "CLICK" and xml_field(xml, "EventKey") == "MENU_SALE"
    assert xml_field(body, "ToUserName") == service_account.original_id
    if mode == "safe":
        assert xml_field(body, "FromUserName") is None and xml_field(body, "Event") is None
    else:
        assert xml_field(body, "Event") == "CLICK"


def test_three_attempts_when_the_receiver_fails(service_account, sandbox, receiver):
    configure(sandbox, service_account, receiver, "plain")
    receiver.status = 500
    sandbox.event(service_account.appid, service_account.openids[0], "subscribe")
    receiver.wait_for(3)
    time.sleep(0.2)
    assert len(receiver.requests) == 3
    entry = sandbox.callbacks(service_account.appid)[0]
    assert entry["status"] == "failed" and [a["status_code"] for a in entry["attempts"]] == [500, 500, 500]


def test_slow_receiver_is_retried(service_account, sandbox, receiver):
    configure(sandbox, service_account, receiver, "plain", callback_timeout=0.3)
    receiver.delay = 0.5
    sandbox.event(service_account.appid, service_account.openids[0], "scan", scene="store-7")
    receiver.wait_for(3, timeout=5)
    deadline = time.monotonic() + 3
    while sandbox.callbacks(service_account.appid)[0]["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    entry = sandbox.callbacks(service_account.appid)[0]
    assert entry["status"] == "failed" and all(a["error"].startswith("ReadTimeout") for a in entry["attempts"])


def test_event_xml_per_kind(service_account, sandbox, receiver):
    configure(sandbox, service_account, receiver, "plain")
    fan, newcomer = service_account.openids[0], "oNewcomer0000000000000000001"
    expected = {
        "subscribe_qr": ("subscribe", "qrscene_1001"),
        "scan": ("SCAN", "1001"),
        "view": ("VIEW", "https://shop.example.com"),
        "scancode_push": ("scancode_push", "SCAN_1"),
        "location_event": ("LOCATION", None),
        "unsubscribe": ("unsubscribe", None),
    }
    sandbox.event(service_account.appid, newcomer, "subscribe_qr", scene="1001")
    for kind in list(expected)[1:]:
        key = {"view": "https://shop.example.com", "scancode_push": "SCAN_1"}.get(kind)
        sandbox.event(service_account.appid, newcomer if kind == "scan" else fan, kind, event_key=key, scene="1001")
    sandbox.event(service_account.appid, fan, "payment")  # no push
    pushes = receiver.wait_for(len(expected))
    time.sleep(0.1)
    assert len(receiver.requests) == len(expected)
    seen = [(xml_field(p.body, "Event"), xml_field(p.body, "EventKey")) for p in pushes]
    assert sorted(seen, key=str) == sorted(expected.values(), key=str)
    info = service_account.call("/cgi-bin/user/info", method="GET", params={"openid": newcomer})
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE" and info["qr_scene"] == 1001


def test_handshake(service_account, sandbox, receiver):
    configure(sandbox, service_account, receiver, "safe")
    result = sandbox.verify_callback(service_account.appid)
    assert result["ok"] is True and result["body"] == result["echostr"]
    [request] = receiver.requests
    q = request.query
    assert request.method == "GET" and q["signature"] == sha1_signature(TOKEN, q["timestamp"], q["nonce"])
    receiver.echo = False
    assert sandbox.verify_callback(service_account.appid)["ok"] is False


def test_no_callback_url_means_no_push(service_account, sandbox):
    answer = sandbox.event(service_account.appid, service_account.openids[0], "text")
    assert answer["pushed"] is False and sandbox.callbacks() == []
