"""Provider metadata for Airflow: the ``wechat_mp`` connection type and its form.

Loaded through the ``apache_airflow_provider`` entry point by every Airflow process, so it imports nothing
but the standard library's ``domain.settings``: a failure here would break ``import airflow``.
"""

from __future__ import annotations

from .domain.settings import SETTINGS

CONN_TYPE = "wechat_mp"


# The form's fields, from the settings' one definition (the hook reads the extras by the same).
CONNECTION_FIELDS = {
    setting.name: {"label": setting.label, "description": setting.help, "schema": setting.schema()}
    for setting in SETTINGS
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
