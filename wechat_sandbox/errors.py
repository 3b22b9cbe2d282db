"""WeChat error answers: HTTP 200, ``{"errcode": N, "errmsg": "<text> rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}``."""

from __future__ import annotations

import os
from typing import Any

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: (
        "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken,"
        " more details at https://mmbizurl.cn/s/JtxxFh33r"
    ),
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid media size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40032: "invalid openid list size",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40037: "invalid template_id",
    40059: "invalid msg id",
    40102: "invalid industry id",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    40246: "keyword name invalid",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43019: "require remove blacklist",
    43100: "change industry too frequently",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit must slower retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45026: "template num exceeds limit",
    45028: "has no masssend quota",
    45047: "out of response count limit",
    45056: "too many tags now, no need to add new",
    45057: "can't delete the tag that has too many fans",
    45058: "can't modify sys tag",
    45059: "tag count of one user reaches limit",
    45065: "clientmsgid exist",
    45066: "same clientmsgid retry too fast",
    45067: "clientmsgid size out of limit",
    45072: "command field invalid",
    45080: "no message interaction with the user in the last 30 seconds",
    45081: "already typing",
    45083: "speed out of range",
    45084: "no speed",
    45110: "author size out of limit",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    48002: "api blocked, the user refuses messages from the account",
    48006: "forbid to clear quota because of reaching the limit",
    49003: "not match openid with appid",
    76003: "invalid cgi_path",
    76021: "cgi_path not found",
}


class ApiError(Exception):
    """A WeChat errcode; ``extra`` keys are merged into the answer (45065 carries ``msg_id``)."""

    def __init__(self, errcode: int, detail: str | None = None, **extra: Any):
        self.errcode = errcode
        self.text = detail if detail is not None else ERRMSG.get(errcode, "error")
        self.extra = extra
        super().__init__(f"{errcode} {self.text}")

    def payload(self) -> dict[str, Any]:
        return error_payload(self.errcode, self.text, **self.extra)


def rid() -> str:
    raw = os.urandom(12).hex()
    return f"{raw[:8]}-{raw[8:16]}-{raw[16:]}"


def error_payload(errcode: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    message = text if text is not None else ERRMSG.get(errcode, "error")
    return {"errcode": errcode, "errmsg": f"{message} rid: {rid()}", **extra}
