"""Fan actions injected through the admin API: update the fan, open its window, push the callback XML.

Payments and rights complaints reach an account through other systems, so they push nothing; under WeChat's
current rules (since 2023) they open no customer-service window either, under ``kf_rules: "2021-06"`` they do.
"""

from __future__ import annotations

import secrets
from typing import Any

from .clock import parse_time
from .model import EVENT_KINDS, Fan
from .sandbox import OPENID, AdminError, Sandbox

SUBSCRIBE_KINDS = ("subscribe", "subscribe_qr")
NO_PUSH = ("payment", "rights_complaint")
NEEDS_FOLLOWER = set(EVENT_KINDS) - set(SUBSCRIBE_KINDS) - set(NO_PUSH)
MESSAGE_KINDS = ("text", "image", "voice", "video", "shortvideo", "location", "link")
EVENT_NAMES = {
    "click": "CLICK",
    "view": "VIEW",
    "scancode_push": "scancode_push",
    "scancode_waitmsg": "scancode_waitmsg",
    "subscribe": "subscribe",
    "subscribe_qr": "subscribe",
    "scan": "SCAN",
    "unsubscribe": "unsubscribe",
    "location_event": "LOCATION",
}


def _message_fields(kind: str, data: dict[str, Any]) -> list[tuple[str, Any]]:
    media_id = data.get("media_id") or secrets.token_urlsafe(32)
    by_kind: dict[str, list[tuple[str, Any]]] = {
        "text": [("Content", data.get("content", "你好"))],
        "image": [("PicUrl", data.get("pic_url", "http://mmbiz.qpic.cn/sandbox/pic/0")), ("MediaId", media_id)],
        "voice": [("MediaId", media_id), ("Format", data.get("format", "amr"))],
        "video": [("MediaId", media_id), ("ThumbMediaId", data.get("thumb_media_id", media_id))],
        "shortvideo": [("MediaId", media_id), ("ThumbMediaId", data.get("thumb_media_id", media_id))],
        "location": [("Location_X", 31.2304), ("Location_Y", 121.4737), ("Scale", 15), ("Label", "上海")],
        "link": [("Title", "link"), ("Description", ""), ("Url", data.get("url", "https://example.com/"))],
    }
    return [("MsgType", kind), *by_kind[kind]]


def _event_fields(kind: str, data: dict[str, Any]) -> list[tuple[str, Any]]:
    key = data.get("event_key")
    scene = str(data.get("scene", "1"))
    fields: list[tuple[str, Any]] = [("MsgType", "event"), ("Event", EVENT_NAMES[kind])]
    if kind == "click":
        fields.append(("EventKey", key or "MENU_KEY"))
    elif kind == "view":
        fields += [("EventKey", key or "https://example.com/"), ("MenuId", data.get("menu_id", 1))]
    elif kind in ("scancode_push", "scancode_waitmsg"):
        scan = f"<ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[{data.get('content', '')}]]></ScanResult>"
        fields += [("EventKey", key or "SCAN_KEY"), ("ScanCodeInfo", [scan])]
    elif kind == "subscribe_qr":
        fields += [("EventKey", f"qrscene_{scene}"), ("Ticket", secrets.token_urlsafe(24))]
    elif kind == "scan":
        fields += [("EventKey", scene), ("Ticket", secrets.token_urlsafe(24))]
    elif kind == "location_event":
        fields += [("Latitude", 31.2304), ("Longitude", 121.4737), ("Precision", 65.0)]
    return fields


def _follow(fan: Fan, kind: str, data: dict[str, Any], at: float) -> None:
    fan.subscribed = True
    fan.subscribe_time = int(at)
    if kind == "subscribe_qr":
        scene = data.get("scene", "1")
        fan.subscribe_scene = "ADD_SCENE_QR_CODE"
        if str(scene).isdigit():
            fan.qr_scene, fan.qr_scene_str = int(scene), ""
        else:
            fan.qr_scene, fan.qr_scene_str = 0, str(scene)


def fan_event(sb: Sandbox, data: dict[str, Any]) -> dict[str, Any]:
    account = sb.account(data.get("appid"))
    openid, kind = data.get("openid"), data.get("kind")
    if kind not in EVENT_KINDS:
        raise AdminError(f"kind must be one of {list(EVENT_KINDS)}")
    if not isinstance(openid, str) or not OPENID.fullmatch(openid):
        raise AdminError(f"bad openid {openid!r}")
    at = parse_time(data["at"]) if data.get("at") is not None else sb.clock.now()
    fan = account.fans.get(openid)
    if fan is None:
        if kind not in SUBSCRIBE_KINDS:
            raise AdminError(f"unknown fan {openid!r}: only subscribe creates a fan", 404)
        fan = account.fans[openid] = Fan(openid, subscribe_time=int(at))
    if kind in NEEDS_FOLLOWER and not fan.subscribed:
        raise AdminError(f"fan {openid!r} does not follow the account; only subscribe/payment/complaint", 409)
    if kind in SUBSCRIBE_KINDS:
        _follow(fan, kind, data, at)
    elif kind == "unsubscribe":
        fan.subscribed = False
    window = sb.interact(account, fan, kind, at)
    answer: dict[str, Any] = {"appid": account.appid, "openid": openid, "kind": kind, "create_time": int(at)}
    answer.update(msg_id=None, pushed=False, callback_id=None, window=window)
    if kind in NO_PUSH:
        return answer
    header: list[tuple[str, Any]] = [
        ("ToUserName", account.original_id),
        ("FromUserName", openid),
        ("CreateTime", int(at)),
    ]
    if kind in MESSAGE_KINDS:
        msg_id = sb.next_id("inbound")
        fields = [*header, *_message_fields(kind, data), ("MsgId", msg_id)]
        answer["msg_id"] = str(msg_id)
    else:
        fields = [*header, *_event_fields(kind, data)]
    extra = data.get("fields") or {}
    if extra:
        names = [name for name, _ in fields]
        fields = [(name, extra.get(name, value)) for name, value in fields]
        fields += [(name, value) for name, value in extra.items() if name not in names]
    entry = sb.pusher.push(account, kind, openid, fields)
    if entry is not None:
        answer.update(pushed=True, callback_id=entry["id"], xml=entry["xml"])
    return answer
