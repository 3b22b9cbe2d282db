"""Hostile and broken requests to the public callback endpoint: each refused, nothing recorded, server up."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.fixtures.airflow import CALLBACK_ACCOUNTS
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.schema import callback_events, interactions

PLAIN, SAFE = CALLBACK_ACCOUNTS["plain"], CALLBACK_ACCOUNTS["safe"]
FAN = "oEndpointFan0000000000000001"


def sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def text_xml(msg_id: str, content: str = "hi") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{FAN}]]></FromUserName>"
        f"<CreateTime>1764000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def fresh() -> tuple[str, str]:
    """A timestamp of now and a nonce of its own, as each of WeChat's pushes has."""
    return str(int(time.time())), uuid.uuid4().hex[:10]


def post(api_server, account, body: bytes, **query):
    timestamp, nonce = fresh()
    params = {"timestamp": timestamp, "nonce": nonce, **query}
    if "signature" not in params:
        params["signature"] = sign(account.token, params["timestamp"], params["nonce"])
    return requests.post(f"{api_server.url}/wechat/callback/{account.conn_id}", params=params, data=body, timeout=10)


def recorded(api_server) -> tuple[int, int]:
    engine = engine_for(api_server.store_url)
    with engine.connect() as connection:
        events = connection.scalar(
            sa.select(sa.func.count()).select_from(callback_events).where(callback_events.c.openid == FAN)
        )
        opened = connection.scalar(
            sa.select(sa.func.count()).select_from(interactions).where(interactions.c.openid == FAN)
        )
    return events, opened


@pytest.fixture
def clean(api_server):
    engine = engine_for(api_server.store_url)
    with engine.begin() as connection:
        connection.execute(sa.delete(callback_events).where(callback_events.c.openid == FAN))
        connection.execute(sa.delete(interactions).where(interactions.c.openid == FAN))
    yield api_server
    assert requests.get(f"{api_server.url}/api/v2/monitor/health", timeout=5).status_code == 200  # still up


def test_a_good_push_is_recorded_once_however_often_wechat_retries(clean):
    for _ in range(3):  # WeChat's retries carry the same MsgId
        answer = post(clean, PLAIN, text_xml("9001"))
        assert (answer.status_code, answer.text) == (200, "success")
    assert recorded(clean) == (1, 1)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><FromUserName>oEndpointFan0000000000000001</FromUserName><MsgType>text</MsgType><Content>&lol3;</Content></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>oEndpointFan0000000000000001</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""


@pytest.mark.parametrize(
    ("name", "body", "query", "status"),
    [
        ("tampered signature", text_xml("9002"), {"signature": "0" * 40}, 403),
        ("no signature", text_xml("9003"), {"signature": ""}, 403),
        (
            "signed with another token",
            text_xml("9004"),
            {"signature": sign("not-the-token", "1764000000", "n0nce")},
            403,
        ),
        ("malformed XML", b"<xml><MsgType>text</MsgType", {}, 400),
        ("not a WeChat push", b"<html><body>hi</body></html>", {}, 400),
        ("entity expansion", BILLION_LAUGHS, {}, 400),
        ("external entity", EXTERNAL_ENTITY, {}, 400),
        ("oversized body", b"<xml>" + b"a" * 70_000 + b"</xml>", {}, 413),
    ],
)
def test_bad_pushes_are_refused_and_change_nothing(clean, name, body, query, status):
    answer = post(clean, PLAIN, body, **query)
    assert answer.status_code == status, (name, answer.text)
    assert recorded(clean) == (0, 0)


def test_an_unknown_account_is_not_found(clean):
    fake = CALLBACK_ACCOUNTS["plain"].__class__("wechat_nobody", "wx", "s", "t", "plain")
    assert post(clean, fake, text_xml("9005")).status_code == 404


def encrypt(xml: bytes, appid: str, aes_key: str) -> str:
    key = base64.b64decode(aes_key + "=")
    plain = os.urandom(16) + struct.pack(">I", len(xml)) + xml + appid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def safe_post(api_server, appid: str, xml: bytes, signature_token: str = SAFE.token):
    encrypted = encrypt(xml, appid, SAFE.aes_key)
    body = f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    timestamp, nonce = fresh()
    return post(
        api_server,
        SAFE,
        body.encode(),
        timestamp=timestamp,
        nonce=nonce,
        encrypt_type="aes",
        msg_signature=sign(signature_token, timestamp, nonce, encrypted),
    )


def test_safe_mode_push_is_decrypted_and_recorded(clean):
    answer = safe_post(clean, SAFE.appid, text_xml("9101"))
    assert (answer.status_code, answer.text) == (200, "success")
    assert recorded(clean) == (1, 1)


def test_safe_mode_push_for_another_appid_is_refused(clean):
    assert safe_post(clean, "wxsomebodyelse00001", text_xml("9102")).status_code == 403
    assert recorded(clean) == (0, 0)


def test_safe_mode_push_with_a_bad_message_signature_is_refused(clean):
    assert safe_post(clean, SAFE.appid, text_xml("9103"), signature_token="wrong").status_code == 403
    assert recorded(clean) == (0, 0)


def test_the_url_check_needs_the_right_signature(clean):
    url = f"{clean.url}/wechat/callback/{PLAIN.conn_id}"
    timestamp, nonce = fresh()
    good = {
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": "hello",
        "signature": sign(PLAIN.token, timestamp, nonce),
    }
    assert requests.get(url, params=good, timeout=5).text == "hello"
    assert requests.get(url, params={**good, "signature": "x"}, timeout=5).status_code == 403
    stale = {**good, "timestamp": "1", "signature": sign(PLAIN.token, "1", nonce)}  # signed in 1970
    assert requests.get(url, params=stale, timeout=5).status_code == 403


def test_unknown_events_are_kept_not_dropped(clean):
    xml = (
        f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{FAN}</FromUserName><CreateTime>1764000100</CreateTime>"
        "<MsgType>event</MsgType><Event>kf_create_session</Event><KfAccount>test1@kf</KfAccount></xml>"
    ).encode()
    assert post(clean, PLAIN, xml).text == "success"
    with engine_for(clean.store_url).connect() as connection:
        row = connection.execute(sa.select(callback_events).where(callback_events.c.openid == FAN)).mappings().one()
    assert row["event"] == "kf_create_session" and row["outcome"] == "stored"
    assert row["payload"]["KfAccount"] == "test1@kf"
    assert recorded(clean) == (1, 0)  # kept, and opens no window


def test_a_bad_signature_is_refused_before_the_body_is_read_as_xml(clean):
    """An unsigned body is never parsed: malformed XML with a wrong signature is a signature refusal (403),
    and a signed but malformed body only then a malformed one (400)."""
    junk = b"<xml>" + b"<a>" * 20_000
    assert post(clean, PLAIN, junk, signature="0" * 40).status_code == 403
    assert post(clean, PLAIN, junk).status_code == 400
    assert recorded(clean) == (0, 0)


def test_a_signature_from_long_ago_is_refused(clean):
    """A signed URL seen in a proxy log, replayed with a new body years later, changes nothing."""
    old = str(int(time.time()) - 9 * 365 * 86_400)
    answer = post(clean, PLAIN, text_xml("9201"), timestamp=old)
    assert answer.status_code == 403 and "away from now" in answer.text
    ahead = str(int(time.time()) + 3600)  # a clock far ahead is no better
    assert post(clean, PLAIN, text_xml("9202"), timestamp=ahead).status_code == 403
    assert recorded(clean) == (0, 0)


def test_a_signature_used_again_with_another_body_is_refused(clean):
    timestamp, nonce = fresh()
    signed = {"timestamp": timestamp, "nonce": nonce}
    assert post(clean, PLAIN, text_xml("9301"), **signed).text == "success"
    assert post(clean, PLAIN, text_xml("9301"), **signed).text == "success"  # WeChat's own retry: the same push
    forged = post(clean, PLAIN, text_xml("9302", content="unsubscribe me"), **signed)
    assert forged.status_code == 403 and "used before" in forged.text
    assert recorded(clean) == (1, 1)


def test_a_safe_mode_account_refuses_a_plaintext_push(clean):
    """Dropping encrypt_type and msg_signature from a safe-mode URL does not downgrade it to plaintext."""
    answer = post(clean, SAFE, text_xml("9401"))
    assert answer.status_code == 403 and "safe mode" in answer.text
    assert recorded(clean) == (0, 0)
