"""Access tokens: the classic ``/cgi-bin/token`` and the independent ``/cgi-bin/stable_token``.

Classic: every fetch rotates the token; the previous one stays valid 5 minutes. Stable: normal mode hands
out the same token while it is valid and renews it in its last 5 minutes (the old one then runs out on its
own); ``force_refresh`` issues a new one (old valid 5 more minutes), at most 20 times a day, and a force
within 30 s of the last refresh returns the current token unchanged.
"""

from __future__ import annotations

from typing import Any

from .account import Account
from .errors import ApiError
from .model import STABLE_FORCE_MIN_INTERVAL, STABLE_FORCE_PER_DAY, TOKEN_GRACE_SECONDS
from .routing import Call, route
from .sandbox import Sandbox


def _credentials(sb: Sandbox, call: Call, grant_type: Any, appid: Any, secret: Any, path: str) -> Account:
    if grant_type != "client_credential":
        raise ApiError(40002)
    if not appid:
        raise ApiError(41002)
    account = sb.accounts.get(appid) if isinstance(appid, str) else None
    if account is None:
        raise ApiError(40013)
    call.account = account
    call.check_ip(account)
    take_quota(sb, account, path, call.now)
    if not secret:
        raise ApiError(41004)
    if secret != account.secret:
        raise ApiError(40125)
    return account


def take_quota(sb: Sandbox, account: Account, key: str, now: float) -> None:
    """Count one call against the account's daily quota for ``key``; 45009 once it is used up."""
    limit = account.limits.get(key)
    if limit is None:
        return
    day = sb.clock.day_key(now)
    counter = account.daily.get(key)
    if counter is None:
        counter = account.daily[key] = [day, 0]
    elif counter[0] != day:
        counter[0], counter[1] = day, 0
    if counter[1] >= limit:
        raise ApiError(45009)
    counter[1] += 1


def classic_token(call: Call) -> dict[str, Any]:
    sb, q = call.sb, call.query
    account = _credentials(sb, call, q.get("grant_type"), q.get("appid"), q.get("secret"), "/cgi-bin/token")
    sb.revoke_later(account.classic_token)
    record = sb.issue_token(account, "token")
    account.classic_token = record.token
    account.token_refreshes += 1
    return {"access_token": record.token, "expires_in": account.token_expires_in}


def stable_token(call: Call) -> dict[str, Any]:
    sb, body, now = call.sb, call.body, call.now
    account = _credentials(
        sb, call, body.get("grant_type"), body.get("appid"), body.get("secret"), "/cgi-bin/stable_token"
    )
    force = body.get("force_refresh") in (True, "true", 1, "1")
    current = sb.tokens.get(account.stable_token) if account.stable_token else None
    if current is not None and current.state(now) != "valid":
        current = None  # only a valid token is answered again
    if force:
        if current is not None and now - account.stable_issued_at < STABLE_FORCE_MIN_INTERVAL:
            return _answer(current.token, current.expires_at - now)
        if account.count(account.stable_force_day, sb.clock.day_key(now)) >= STABLE_FORCE_PER_DAY:
            raise ApiError(45009)
        account.stable_force_day[1] += 1
        sb.revoke_later(account.stable_token)
    elif current is not None:
        remaining = current.expires_at - now
        if remaining > renew_window(account.token_expires_in):
            return _answer(current.token, remaining)
        # last minutes: a new token; the old one simply runs out (both valid meanwhile)
    record = sb.issue_token(account, "stable")
    account.stable_token, account.stable_issued_at = record.token, now
    account.stable_token_refreshes += 1
    return _answer(record.token, account.token_expires_in)


def renew_window(expires_in: int) -> float:
    """Stable tokens renew in their last 5 minutes (half the lifetime for tokens shorter than 10 minutes)."""
    return min(TOKEN_GRACE_SECONDS, expires_in / 2)


def _answer(token: str, expires_in: float) -> dict[str, Any]:
    return {"access_token": token, "expires_in": max(1, int(expires_in))}


ROUTES = {
    "/cgi-bin/token": route(classic_token, token=False, body="none"),
    "/cgi-bin/stable_token": route(stable_token, token=False),
}
