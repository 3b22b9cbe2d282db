"""What we know of an Official Account's kind and limits (from its Connection), and what that allows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from . import paths
from .settings import BY_NAME


class AccountType(StrEnum):
    SERVICE = "service"  # 服务号
    SUBSCRIPTION = "subscription"  # 订阅号 / 公众号


def _default(name: str):
    return BY_NAME[name].default


# Default daily call limits by API path (WeChat's API limits page, 接口调用频次限制); the real numbers are in
# the MP backend, so each account may override them in its Connection.
DEFAULT_DAILY_QUOTAS: Mapping[str, int] = MappingProxyType(
    {
        paths.MESSAGE_TEMPLATE_SEND: _default("template_daily_quota"),
        paths.MESSAGE_CUSTOM_SEND: _default("custom_daily_quota"),
        paths.MESSAGE_MASS_SEND: _default("mass_daily_quota"),  # sendall + send share the service account's
        paths.USER_GET: 500,
        paths.USER_INFO: 5_000_000,
        paths.DRAFT_ADD: 1_000,
        paths.MEDIA_UPLOAD: 100_000,
    }
)

MAX_SEND_CONCURRENCY = int(BY_NAME["send_concurrency"].maximum or 0)  # keep-alive connections of one event loop

_DEFAULT_TYPE = AccountType(_default("account_type"))

MASS_PATHS = (paths.MESSAGE_MASS_SENDALL, paths.MESSAGE_MASS_SEND)


@dataclass(frozen=True)
class AccountSettings:
    appid: str
    # Defaults as the connection form offers them (domain.settings)
    account_type: AccountType = _DEFAULT_TYPE
    verified: bool = _default("verified")
    rate_limit: float = float(_default("rate_limit"))  # API calls per second for this account, all workers together
    confirm_threshold: int = _default("confirm_threshold")  # sends to more fans than this need confirm_large_send
    schedule_horizon_days: int = _default("schedule_horizon_days")  # send_at further ahead is a typo, not a plan
    # Send tasks of this account that may run at once (the slots of its send pool): each sends at
    # rate_limit / send_slots, so that all of them together, on any workers, keep to rate_limit.
    send_slots: int = _default("send_slots")
    # Calls in flight at once within one send task: WeChat answers in tens of milliseconds, so a sender
    # waiting on one call at a time could not reach the rate limit.
    send_concurrency: int = _default("send_concurrency")
    retry_max_wait: float = float(_default("retry_max_wait"))  # the longest pause before retrying a call
    to_all_once_a_day: bool = _default("to_all_once_a_day")  # WeChat's daily rule for sends to all followers
    cs_rules: str = _default("cs_rules")  # which of WeChat's customer-service rule sets (domain.eligibility)
    daily_quotas: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_DAILY_QUOTAS))

    def daily_quota(self, path: str) -> int | None:
        if path in MASS_PATHS:
            path = paths.MESSAGE_MASS_SEND
        return self.daily_quotas.get(path)

    def template_permission_problem(self) -> str | None:
        """Why this account may not send template messages, or None if it may."""
        if self.account_type is not AccountType.SERVICE:
            return "template messages need a service account (服务号); this is a subscription account"
        if not self.verified:
            return "template messages need a verified (认证) service account; this one is not verified"
        return None
