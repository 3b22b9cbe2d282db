"""Registers the WeChat campaigns plugin with Airflow's API server and UI.

- ``/wechat/callback/<conn_id>``: WeChat's callback URL (public, signed);
- ``/wechat/sent/``: the Sent page and its JSON API (Airflow login required), in the UI's Browse menu;
- ``/wechat/library/``: the Library pages, materials, templates and audience (Airflow login required), in the
  UI's Browse menu;
- ``/wechat/compose/``: the Compose page, a new message checked and forecast before it is sent (Airflow login
  required), in the UI's navigation.
"""

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from wechat_campaigns.integration.callback_app import app as callback_app
from wechat_campaigns.integration.compose_app import app as compose_app
from wechat_campaigns.integration.library_app import app as library_app
from wechat_campaigns.integration.sent_app import app as sent_app


class WeChatCampaignsPlugin(AirflowPlugin):
    name = "wechat_campaigns"
    fastapi_apps: ClassVar[list] = [
        {"app": callback_app, "url_prefix": "/wechat/callback", "name": "WeChat callbacks"},
        {"app": sent_app, "url_prefix": "/wechat/sent", "name": "WeChat sent messages"},
        {"app": library_app, "url_prefix": "/wechat/library", "name": "WeChat library"},
        {"app": compose_app, "url_prefix": "/wechat/compose", "name": "WeChat compose"},
    ]
    external_views: ClassVar[list] = [
        {
            "name": "New message · 新建消息",
            "href": "/wechat/compose/",
            "url_route": "wechat-compose",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Sent messages · 已发送",
            "href": "/wechat/sent/",
            "url_route": "wechat-sent",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "WeChat library · 素材库",
            "href": "/wechat/library/materials",
            "url_route": "wechat-library",
            "destination": "nav",
            "category": "browse",
        },
    ]
