"""The WeChat error taxonomy: what a sender does about each errcode.

WeChat answers HTTP 200 with ``{"errcode": N, "errmsg": "... rid: ..."}``; a sender must branch on the code,
never on the text. Every code the reference lists for a sender is classified here; an unknown code stops the
campaign (it is safer to ask a human than to guess that a retry is harmless).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What to do when WeChat answers with an error."""

    RETRY = "retry"  # transient: back off and send the same request again
    WAIT_QUOTA = "wait_quota"  # a daily/monthly quota is used up: wait for the next window
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an action name, not a secret. The token is stale: refresh it, retry once
    RECIPIENT = "recipient"  # permanent for this fan: record the reason, go on with the others
    CAMPAIGN = "campaign"  # permanent for this content: stop the campaign, fix the material/template
    CONFIG = "config"  # account configuration or a bug on our side: stop, tell the operator
    ALREADY_DONE = "already_done"  # WeChat already has this send (45065): count it as a success


@dataclass(frozen=True)
class ErrorKind:
    action: Action
    reason: str  # short name shown in the history ("outside_48h", "quota_exhausted", ...)
    meaning: str  # one line for the operator
    wait_seconds: float = 0.0  # minimum pause before a retry, where WeChat prescribes one
    advice: str = ""  # what the operator does about it, added to the error's message


_WHITELIST = (
    "add the address to the account's IP whitelist (the address WeChat names, or the egress proxy's if calls "
    "go through one; MP backend: 设置与开发 → 基本配置 → IP白名单)"
)

_KINDS: dict[int, ErrorKind] = {
    -1: ErrorKind(Action.RETRY, "system_busy", "WeChat is busy; retry with backoff"),
    9500002: ErrorKind(Action.RETRY, "system_busy", "too many mass jobs at WeChat; retry later", 30),
    45011: ErrorKind(Action.RETRY, "rate_limited", "per-minute API limit reached; retry next minute", 60),
    45066: ErrorKind(Action.RETRY, "retry_too_fast", "same clientmsgid retried too fast; wait ≥60 s", 60),
    45009: ErrorKind(Action.WAIT_QUOTA, "quota_exhausted", "daily API quota used up; wait for tomorrow"),
    45028: ErrorKind(Action.WAIT_QUOTA, "no_mass_quota", "no mass-send quota left for this period"),
    40001: ErrorKind(Action.REFRESH_TOKEN, "token_invalid", "access token invalid or superseded"),
    40014: ErrorKind(Action.REFRESH_TOKEN, "token_invalid", "access token malformed"),
    42001: ErrorKind(Action.REFRESH_TOKEN, "token_expired", "access token expired"),
    40003: ErrorKind(Action.RECIPIENT, "invalid_openid", "openid is not a fan of this account"),
    49003: ErrorKind(Action.RECIPIENT, "invalid_openid", "openid does not belong to this AppID"),
    43004: ErrorKind(Action.RECIPIENT, "unsubscribed", "the fan does not follow the account"),
    50005: ErrorKind(Action.RECIPIENT, "unsubscribed", "the fan does not follow the account"),
    43019: ErrorKind(Action.RECIPIENT, "blacklisted", "the fan is on the account's blacklist"),
    43101: ErrorKind(Action.RECIPIENT, "blocked", "the fan refuses template messages"),
    48002: ErrorKind(Action.RECIPIENT, "refused_messages", "the fan turned off messages from the account"),
    45015: ErrorKind(Action.RECIPIENT, "outside_48h", "customer-service window closed or fan unfollowed"),
    45047: ErrorKind(Action.RECIPIENT, "window_quota", "customer-service messages for this window used up"),
    40007: ErrorKind(Action.CAMPAIGN, "invalid_media", "media_id missing, expired or of the wrong type"),
    40037: ErrorKind(Action.CAMPAIGN, "invalid_template", "template_id not in this account"),
    45002: ErrorKind(Action.CAMPAIGN, "content_too_long", "content size out of limit"),
    45003: ErrorKind(Action.CAMPAIGN, "title_too_long", "title size out of limit"),
    45004: ErrorKind(Action.CAMPAIGN, "description_too_long", "description size out of limit"),
    45008: ErrorKind(Action.CAMPAIGN, "too_many_articles", "customer-service news allows one article"),
    45026: ErrorKind(Action.CAMPAIGN, "template_limit", "the account already has 25 templates"),
    45110: ErrorKind(Action.CAMPAIGN, "author_too_long", "author size out of limit"),
    40246: ErrorKind(Action.CAMPAIGN, "invalid_keyword", "template keyword name not in the library"),
    43100: ErrorKind(Action.CAMPAIGN, "industry_change_limit", "industry already changed this month"),
    47003: ErrorKind(Action.CAMPAIGN, "invalid_template_value", "a template value breaks its keyword rule"),
    40059: ErrorKind(Action.CAMPAIGN, "invalid_msg_id", "unknown mass msg_id"),
    45065: ErrorKind(Action.ALREADY_DONE, "duplicate_clientmsgid", "this mass send already exists"),
    40002: ErrorKind(Action.CONFIG, "invalid_grant_type", "invalid grant_type"),
    40008: ErrorKind(Action.CONFIG, "invalid_message_type", "invalid message type"),
    40013: ErrorKind(Action.CONFIG, "invalid_appid", "AppID is wrong"),
    40125: ErrorKind(Action.CONFIG, "invalid_secret", "AppSecret is wrong"),
    40164: ErrorKind(Action.CONFIG, "ip_not_whitelisted", "caller IP not in the API whitelist", advice=_WHITELIST),
    61004: ErrorKind(Action.CONFIG, "ip_not_whitelisted", "caller IP not in the API whitelist", advice=_WHITELIST),
    40243: ErrorKind(Action.CONFIG, "secret_frozen", "AppSecret is frozen"),
    40032: ErrorKind(Action.CONFIG, "invalid_openid_list", "openid list size out of range"),
    41001: ErrorKind(Action.CONFIG, "token_missing", "access_token missing"),
    44002: ErrorKind(Action.CONFIG, "empty_body", "empty post data"),
    44004: ErrorKind(Action.CONFIG, "empty_text", "empty text content"),
    45067: ErrorKind(Action.CONFIG, "clientmsgid_too_long", "clientmsgid over 64 bytes"),
    45083: ErrorKind(Action.CONFIG, "invalid_speed", "mass speed out of range 0..4"),
    45084: ErrorKind(Action.CONFIG, "invalid_speed", "mass speed missing"),
    47001: ErrorKind(Action.CONFIG, "bad_request_format", "malformed JSON/XML"),
    48001: ErrorKind(
        Action.CONFIG,
        "api_unauthorized",
        "the account has no permission for this API",
        advice="the account may not call this API (not a token problem): check its type, verification and the "
        "interface permissions in the MP backend (设置与开发 → 接口权限)",
    ),
    48004: ErrorKind(Action.CONFIG, "api_forbidden", "the API is banned for this account"),
    48006: ErrorKind(Action.CONFIG, "clear_quota_limit", "quota resets used up this month"),
}

TOKEN_ERRCODES = frozenset(code for code, kind in _KINDS.items() if kind.action is Action.REFRESH_TOKEN)
RECIPIENT_REASONS = frozenset(kind.reason for kind in _KINDS.values() if kind.action is Action.RECIPIENT)

_UNKNOWN = ErrorKind(Action.CAMPAIGN, "unknown_error", "an errcode this product does not know")


def classify(errcode: int) -> ErrorKind:
    """The sender's action for an errcode; unknown codes stop the campaign."""
    return _KINDS.get(errcode, _UNKNOWN)


_RID = re.compile(r"\brid:\s*([0-9a-f]+(?:-[0-9a-f]+)*)", re.IGNORECASE)


def rid_of(errmsg: str) -> str | None:
    """The request id WeChat appends to errmsg (``... rid: 6530f9c7-22efcc6d-303033a5``)."""
    match = _RID.search(errmsg or "")
    return match.group(1) if match else None


class WeChatError(Exception):
    """WeChat answered with a non-zero errcode. Keeps code, message and rid for the history."""

    def __init__(self, errcode: int, errmsg: str, *, path: str = "", payload: dict | None = None):
        self.errcode = errcode
        self.errmsg = errmsg
        self.rid = rid_of(errmsg)
        self.path = path
        self.payload = payload or {}  # the whole answer: 45065 carries the existing msg_id
        self.kind = classify(errcode)
        advice = f" — {self.kind.advice}" if self.kind.advice else ""
        super().__init__(f"WeChat {path or 'API'} errcode {errcode}: {errmsg}{advice}")

    @property
    def action(self) -> Action:
        return self.kind.action

    @property
    def reason(self) -> str:
        return self.kind.reason


class WeChatTransportError(Exception):
    """No usable answer (timeout, dropped connection, non-JSON). The request may or may not have taken
    effect at WeChat: senders without platform de-duplication must record the outcome as unknown."""

    def __init__(self, path: str, cause: BaseException | str, *, retryable: bool = True):
        self.path = path
        self.cause = cause
        self.retryable = retryable  # False where a retry cannot help (a certificate that is not trusted)
        super().__init__(f"WeChat {path}: no usable answer ({cause})")
