"""What we know of an Official Account's kind and limits (from its Connection), and what that allows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class AccountType(StrEnum):
    SERVICE = "service"  # 服务号
    SUBSCRIPTION = "subscription"  # 订阅号 / 公众号


# Default daily call limits by API path (reference §9.1); the real numbers are in the MP backend, so each
# account may override them in its Connection.
DEFAULT_DAILY_QUOTAS: Mapping[str, int] = MappingProxyType(
    {
        "/cgi-bin/message/template/send": 100_000,
        "/cgi-bin/message/custom/send": 500_000,
        "/cgi-bin/message/mass/send": 100,  # sendall + send share the service account's 100/day
        "/cgi-bin/user/get": 500,
        "/cgi-bin/user/info": 5_000_000,
        "/cgi-bin/draft/add": 1_000,
        "/cgi-bin/media/upload": 100_000,
    }
)

MAX_SEND_CONCURRENCY = 512  # keep-alive connections of one send task's event loop

MASS_PATHS = ("/cgi-bin/message/mass/sendall", "/cgi-bin/message/mass/send")


@dataclass(frozen=True)
class AccountSettings:
    appid: str
    account_type: AccountType = AccountType.SERVICE
    verified: bool = True
    rate_limit: float = 200.0  # API calls per second for this account, all workers together
    confirm_threshold: int = 10_000  # sends to more fans than this need confirm_large_send
    schedule_horizon_days: int = 366  # send_at further ahead than this is a typo (year 9999), not a plan
    # Send tasks of this account that may run at once (the slots of its send pool): each sends at
    # rate_limit / send_slots, so that all of them together, on any workers, keep to rate_limit.
    send_slots: int = 4
    # Calls in flight at once within one send task: WeChat answers in tens of milliseconds, so a sender
    # waiting on one call at a time could not reach the rate limit.
    send_concurrency: int = 16
    daily_quotas: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_DAILY_QUOTAS))

    def daily_quota(self, path: str) -> int | None:
        if path in MASS_PATHS:
            path = "/cgi-bin/message/mass/send"
        return self.daily_quotas.get(path)

    def template_permission_problem(self) -> str | None:
        """Why this account may not send template messages, or None if it may."""
        if self.account_type is not AccountType.SERVICE:
            return "template messages need a service account (服务号); this is a subscription account"
        if not self.verified:
            return "template messages need a verified (认证) service account; this one is not verified"
        return None
