"""Quota APIs: openapi/quota/get, clear_quota (token) and clear_quota/v2 (appid + appsecret)."""

from __future__ import annotations

from typing import Any

from .account import Account
from .errors import ApiError
from .model import CLEAR_QUOTA_PER_MONTH, QUOTA_ALIASES, RATE_LIMITS
from .routing import Call, route


def get_quota(call: Call) -> dict[str, Any]:
    account, sb = call.acc, call.sb
    path = call.body.get("cgi_path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ApiError(76003)
    key = QUOTA_ALIASES.get(path, path)
    limit = account.limits.get(key)
    if limit is None:
        raise ApiError(76021)
    counter = account.daily.get(key)
    used = counter[1] if counter and counter[0] == sb.clock.day_key(call.now) else 0
    answer: dict[str, Any] = {
        "errcode": 0,
        "errmsg": "ok",
        "quota": {"daily_limit": limit, "used": used, "remain": max(0, limit - used)},
    }
    if key in RATE_LIMITS:
        answer["rate_limit"] = {"call_count": RATE_LIMITS[key], "refresh_second": 60}
    return answer


def _clear(call: Call, account: Account) -> dict[str, Any]:
    month = call.sb.clock.month_key(call.now)
    if account.count(account.clear_quota_month, month) >= CLEAR_QUOTA_PER_MONTH:
        raise ApiError(48006)
    account.clear_quota_month[1] += 1
    account.daily.clear()
    return {"errcode": 0, "errmsg": "ok"}


def clear_quota(call: Call) -> dict[str, Any]:
    appid = call.body.get("appid")
    if not appid:
        raise ApiError(41002)
    if appid != call.acc.appid:
        raise ApiError(40013)
    return _clear(call, call.acc)


def clear_quota_v2(call: Call) -> dict[str, Any]:
    """Works without a token (for when the token API itself is out of quota)."""
    appid = call.body.get("appid") or call.query.get("appid")
    secret = call.body.get("appsecret") or call.query.get("appsecret")
    if not appid:
        raise ApiError(41002)
    if not secret:
        raise ApiError(41004)
    account = call.sb.accounts.get(appid)
    if account is None:
        raise ApiError(40013)
    call.account = account
    if secret != account.secret:
        raise ApiError(40125)
    return _clear(call, account)


ROUTES = {
    "/cgi-bin/openapi/quota/get": route(get_quota),
    "/cgi-bin/clear_quota": route(clear_quota),
    "/cgi-bin/clear_quota/v2": route(clear_quota_v2, token=False, empty_ok=True),
}
