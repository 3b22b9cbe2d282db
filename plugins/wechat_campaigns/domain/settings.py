"""An account's settings, as its ``wechat_mp`` connection holds them, defined once.

The connection form (``provider_info``) is made from these definitions, and the hook reads the connection's
extras by them: the same default, range and error message (naming the setting) everywhere. Standard library
only: ``provider_info`` is imported by every Airflow process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Setting:
    name: str
    label: str
    help: str
    type: str  # JSON schema type: string, boolean, integer or number
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    length: int | None = None  # a string of exactly this many characters
    pattern: str | None = None  # a string matching this regular expression (``unit`` says what it is)
    secret: bool = False
    unit: str = ""  # in error messages: "a whole number of days"

    def schema(self) -> dict[str, Any]:
        """The JSON schema of Airflow's connection form for this setting."""
        schema: dict[str, Any] = {"type": self.type if self.default is not None else [self.type, "null"]}
        optional = {"default": self.default, "minimum": self.minimum, "maximum": self.maximum}
        schema.update({key: value for key, value in optional.items() if value is not None})
        if self.choices:
            schema["enum"] = [*self.choices, *([] if self.default is not None else [None])]
        if self.length:
            schema["minLength"] = schema["maxLength"] = self.length
        if self.pattern:
            schema["pattern"] = self.pattern
        if self.secret:
            schema["format"] = "password"
        return schema

    def read(self, conn_id: str, raw: Any) -> Any:
        """The value of ``raw`` (an extra as stored, often a string), or the default when it is not given."""
        if raw is None or raw == "":
            return self.default
        value = self._parse(raw)
        if value is None:
            raise ValueError(f"connection {conn_id!r}: {self.name} must be {self._wanted()}, not {raw!r}")
        return value

    def _parse(self, raw: Any) -> Any:
        if self.type == "boolean":
            word = str(raw).strip().lower()
            return raw if isinstance(raw, bool) else True if word in _TRUE else False if word in _FALSE else None
        if self.type in ("integer", "number"):
            return self._number(raw)
        text = str(raw)
        if (self.choices and text not in self.choices) or (self.length and len(text) != self.length):
            return None
        if self.pattern and not re.fullmatch(self.pattern, text):
            return None
        return text

    def _number(self, raw: Any) -> float | int | None:
        if isinstance(raw, bool):
            return None
        try:
            number = int(str(raw).strip()) if self.type == "integer" else float(raw)
        except (TypeError, ValueError):
            return None
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            return None
        return number

    def _wanted(self) -> str:
        if self.choices:
            return " or ".join(repr(choice) for choice in self.choices)
        if self.type == "boolean":
            return "true or false"
        if self.length:
            return f"{self.length} characters"
        if self.pattern:
            return self.unit
        what = ("a whole number" if self.type == "integer" else "a number") + (f" of {self.unit}" if self.unit else "")
        low, high = (f"{bound:g}" if bound is not None else None for bound in (self.minimum, self.maximum))
        if low is not None and high is not None:
            return f"{what} from {low} to {high}"
        return f"{what} of at least {low}" if low is not None else what


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "account_type",
        "Account type",
        "服务号 (service) or 订阅号 (subscription). Decides mass-send quotas and template permission.",
        "string",
        "service",
        choices=("service", "subscription"),
    ),
    Setting(
        "verified",
        "Verified (认证)",
        "Template messages and the full mass-send API need a verified account.",
        "boolean",
        True,
    ),
    Setting(
        "original_id", "Original ID (gh_…)", "The account's original ID, shown in callbacks as ToUserName.", "string"
    ),
    Setting(
        "callback_token",
        "Callback token",
        "The Token set in the WeChat console (开发 → 基本配置) for signing callbacks.",
        "string",
        secret=True,
    ),
    Setting(
        "encoding_aes_key",
        "EncodingAESKey",
        "43 characters from the WeChat console; needed in compatible and safe (encrypted) modes.",
        "string",
        length=43,
        secret=True,
    ),
    Setting(
        "callback_mode",
        "Callback encryption mode",
        "As set in the WeChat console: plaintext, compatible or safe. Default: safe when an EncodingAESKey is "
        "given (only encrypted pushes are accepted), else plaintext.",
        "string",
        choices=("plaintext", "compatible", "safe"),
    ),
    Setting(
        "callback_max_age",
        "Callback signature lifetime (s)",
        "A push signed longer ago than this (or this far in the future) is refused as a replay.",
        "integer",
        300,
        minimum=30,
        maximum=3600,
        unit="seconds",
    ),
    Setting(
        "rate_limit",
        "Rate limit (calls/s)",
        "API calls per second for this account, across all workers together.",
        "number",
        200,
        minimum=1,
    ),
    Setting(
        "confirm_threshold",
        "Confirm sends above (fans)",
        "A campaign to more fans than this stops before sending unless its conf says confirm_large_send.",
        "integer",
        10_000,
        minimum=0,
    ),
    Setting(
        "schedule_horizon_days",
        "Schedule at most (days ahead)",
        "A campaign whose send_at is further ahead than this is refused, naming send_at (a year 9999 typo).",
        "integer",
        366,
        minimum=1,
        maximum=3660,
        unit="days",
    ),
    Setting(
        "send_slots",
        "Parallel send tasks",
        "How many send tasks of this account may run at once: the slots of its Airflow pool. Each sends at "
        "rate limit / this, so together they keep to the rate limit on any number of workers.",
        "integer",
        4,
        minimum=1,
    ),
    Setting(
        "send_concurrency",
        "Calls in flight per send task",
        "WeChat API calls one send task keeps in flight at once (1-512). Raise it when WeChat answers slowly and "
        "the rate limit is not reached; the rate limit still holds.",
        "integer",
        16,
        minimum=1,
        maximum=512,
    ),
    Setting(
        "retry_max_wait",
        "Longest retry pause (s)",
        "The longest pause before retrying a busy or rate-limited call (WeChat asks for 60 s after 45011).",
        "number",
        60,
        minimum=0,
    ),
    Setting(
        "to_all_once_a_day",
        "One send to all followers a day",
        "WeChat's service-account guide allows one send to all followers a Beijing day beside four a month; "
        "a second one that day waits for the next.",
        "boolean",
        True,
    ),
    Setting(
        "cs_rules",
        "Customer-service rules",
        "Which of WeChat's customer-service window rules to apply: 2023-08 (today's: a payment or a complaint "
        "opens no window, a message 5 in 48 h) or 2021-06 (the earlier ones).",
        "string",
        "2023-08",
        choices=("2021-06", "2023-08"),  # domain.eligibility.CS_RULES, by name
    ),
    Setting(
        "proxy",
        "Egress proxy",
        "The forward proxy every WeChat API call goes through (WeChat answers only whitelisted IPs, often the "
        "proxy's), e.g. http://proxy.internal:3128. Empty: HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply.",
        "string",
        pattern=r"https?://[^\s/]+(/\S*)?",
        unit="an http:// or https:// URL with a host",
    ),
    Setting(
        "ca_bundle",
        "CA bundle (PEM file)",
        "A file of CA certificates to trust for WeChat's HTTPS instead of the system's, where a proxy re-signs "
        "HTTPS. Empty: the system's CAs.",
        "string",
    ),
    Setting(
        "template_daily_quota",
        "Template sends per day",
        "message/template/send daily limit shown in the MP backend (default 100,000).",
        "integer",
        100_000,
        minimum=0,
    ),
    Setting(
        "custom_daily_quota",
        "Customer-service sends per day",
        "message/custom/send daily limit (default 500,000).",
        "integer",
        500_000,
        minimum=0,
    ),
    Setting(
        "mass_daily_quota",
        "Mass-send API calls per day",
        "mass/sendall + mass/send daily limit (service accounts: 100).",
        "integer",
        100,
        minimum=0,
    ),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def read_settings(conn_id: str, extras: dict[str, Any]) -> dict[str, Any]:
    """Every setting's value from a connection's extras (by name), checked; unknown extras are left alone."""
    return {setting.name: setting.read(conn_id, extras.get(setting.name)) for setting in SETTINGS}
