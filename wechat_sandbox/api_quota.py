"""Quota APIs: openapi/quota/get, clear_quota (token) and clear_quota/v2 (appid + appsecret) for every daily
counter, 10 times a month together, and openapi/quota/clear for one API's, 50 times a month."""

from __future__ import annotations

from typing import Any

from .account import Account
from .errors import ApiError
from .model import CLEAR_API_QUOTA_PER_MONTH, CLEAR_QUOTA_PER_MONTH, QUOTA_ALIASES, RATE_LIMITS
from .routing import Call, route


def _quota_key(call: Call) -> tuple[str, int]:
    """The counter behind the body's ``cgi_path`` and its daily limit; 76003 without a leading "/", 76021 for a
    path without a quota."""
    path = call.body.get("cgi_path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ApiError(76003)
    key = QUOTA_ALIASES.get(path, path)
    limit = call.acc.limits.get(key)
    if limit is None:
        raise ApiError(76021)
    return key, limit


def get_quota(call: Call) -> dict[str, Any]:
    account, sb = call.acc, call.sb
    key, limit = _quota_key(call)
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


def clear_api_quota(call: Call) -> dict[str, Any]:
    """One API's daily count back to 0 (mass send and sendall share one); 50 times a natural month (48006),
    apart from clear_quota's 10."""
    account = call.acc
    key, _ = _quota_key(call)
    if account.count(account.clear_api_quota_month, call.sb.clock.month_key(call.now)) >= CLEAR_API_QUOTA_PER_MONTH:
        raise ApiError(48006)
    account.clear_api_quota_month[1] += 1
    account.daily.pop(key, None)
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
    "/cgi-bin/openapi/quota/clear": route(clear_api_quota),
    "/cgi-bin/clear_quota": route(clear_quota),
    "/cgi-bin/clear_quota/v2": route(clear_quota_v2, token=False, empty_ok=True),
}
