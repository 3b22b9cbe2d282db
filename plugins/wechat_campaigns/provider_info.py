"""Provider metadata for Airflow: the ``wechat_mp`` connection type and its form.

Loaded through the ``apache_airflow_provider`` entry point by every Airflow process, so it imports nothing:
a failure here would break ``import airflow``.
"""

from __future__ import annotations

CONN_TYPE = "wechat_mp"


def _field(label: str, description: str, **schema) -> dict:
    return {"label": label, "description": description, "schema": schema}


CONNECTION_FIELDS = {
    "account_type": _field(
        "Account type",
        "服务号 (service) or 订阅号 (subscription). Decides mass-send quotas and template permission.",
        type="string",
        enum=["service", "subscription"],
        default="service",
    ),
    "verified": _field(
        "Verified (认证)",
        "Template messages and the full mass-send API need a verified account.",
        type="boolean",
        default=True,
    ),
    "original_id": _field(
        "Original ID (gh_…)",
        "The account's original ID, shown in callbacks as ToUserName.",
        type=["string", "null"],
    ),
    "callback_token": _field(
        "Callback token",
        "The Token set in the WeChat console (开发 → 基本配置) for signing callbacks.",
        type=["string", "null"],
        format="password",
    ),
    "encoding_aes_key": _field(
        "EncodingAESKey",
        "43 characters from the WeChat console; needed in compatible and safe (encrypted) modes.",
        type=["string", "null"],
        format="password",
        minLength=43,
        maxLength=43,
    ),
    "callback_mode": _field(
        "Callback encryption mode",
        "As set in the WeChat console: plaintext, compatible or safe. Default: safe when an EncodingAESKey is "
        "given (only encrypted pushes are accepted), else plaintext.",
        type=["string", "null"],
        enum=["plaintext", "compatible", "safe", None],
    ),
    "callback_max_age": _field(
        "Callback signature lifetime (s)",
        "A push signed longer ago than this (or this far in the future) is refused as a replay.",
        type="integer",
        default=300,
        minimum=30,
        maximum=3600,
    ),
    "rate_limit": _field(
        "Rate limit (calls/s)",
        "API calls per second for this account, across all workers together.",
        type="number",
        default=200,
        minimum=1,
    ),
    "confirm_threshold": _field(
        "Confirm sends above (fans)",
        "A campaign to more fans than this stops before sending unless its conf says confirm_large_send.",
        type="integer",
        default=10_000,
        minimum=0,
    ),
    "schedule_horizon_days": _field(
        "Schedule at most (days ahead)",
        "A campaign whose send_at is further ahead than this is refused, naming send_at (a year 9999 typo).",
        type="integer",
        default=366,
        minimum=1,
        maximum=3660,
    ),
    "send_slots": _field(
        "Parallel send tasks",
        "How many send tasks of this account may run at once: the slots of its Airflow pool (wechat_api). "
        "Each sends at rate limit / this, so together they keep to the rate limit on any number of workers.",
        type="integer",
        default=4,
        minimum=1,
    ),
    "send_concurrency": _field(
        "Calls in flight per send task",
        "WeChat API calls one send task keeps in flight at once (1-512). Raise it when WeChat answers slowly and "
        "the rate limit is not reached; the rate limit still holds.",
        type="integer",
        default=16,
        minimum=1,
        maximum=512,
    ),
    "retry_max_wait": _field(
        "Longest retry pause (s)",
        "The longest pause before retrying a busy or rate-limited call (WeChat asks for 60 s after 45011).",
        type="number",
        default=60,
        minimum=0,
    ),
    "template_daily_quota": _field(
        "Template sends per day",
        "message/template/send daily limit shown in the MP backend (default 100,000).",
        type="integer",
        default=100_000,
        minimum=0,
    ),
    "custom_daily_quota": _field(
        "Customer-service sends per day",
        "message/custom/send daily limit (default 500,000).",
        type="integer",
        default=500_000,
        minimum=0,
    ),
    "mass_daily_quota": _field(
        "Mass-send API calls per day",
        "mass/sendall + mass/send daily limit (service accounts: 100).",
        type="integer",
        default=100,
        minimum=0,
    ),
}


def get_provider_info() -> dict:
    return {
        "package-name": "wechat-campaigns",
        "name": "WeChat Official Account campaigns",
        "description": "Mass, customer-service and template messages to WeChat Official Account fans.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "wechat_campaigns.integration.hook.WeChatHook",
                "hook-name": "WeChat Official Account",
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema"],
                    "relabeling": {"login": "AppID", "password": "AppSecret", "host": "API base URL"},
                    "placeholders": {
                        "login": "wx1234567890abcdef",
                        "host": "https://api.weixin.qq.com",
                    },
                },
                "conn-fields": CONNECTION_FIELDS,
            }
        ],
    }
