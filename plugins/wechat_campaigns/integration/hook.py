"""``WeChatHook``: a WeChat API client built from an Airflow Connection of type ``wechat_mp``.

Credentials live only in the Connection: AppID in *login*, AppSecret in *password*, the API base URL in
*host* (empty = ``https://api.weixin.qq.com``; the sandbox's URL in tests and the demo), the rest in extras
(see ``domain.settings``, which the connection form is made from).
"""

from __future__ import annotations

import logging
import os
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import mask_secret

from ..domain import paths
from ..domain.account import DEFAULT_DAILY_QUOTAS, AccountSettings, AccountType
from ..domain.errors import WeChatError, WeChatTransportError
from ..domain.settings import read_settings
from ..provider_info import CONN_TYPE
from ..store.db import SchemaMismatch, StoreNotConfigured, ready
from ..store.tokens import SqlTokenCache
from ..wechat.api.mass import MASS_CALLS_PER_MINUTE
from ..wechat.client import DEFAULT_BASE_URL, WeChatClient
from ..wechat.ratelimit import CallSpacing, TokenBucket

DEFAULT_STORE_CONN_ID = "wechat_store"
log = logging.getLogger(__name__)

_QUOTA_EXTRAS = {
    "template_daily_quota": paths.MESSAGE_TEMPLATE_SEND,
    "custom_daily_quota": paths.MESSAGE_CUSTOM_SEND,
    "mass_daily_quota": paths.MESSAGE_MASS_SEND,
}


class WeChatHook(BaseHook):
    """Talk to one WeChat Official Account.

    :param wechat_conn_id: the ``wechat_mp`` connection of the account.
    :param store_conn_id: the campaign store's connection (shares the access token between workers).
    """

    conn_name_attr = "wechat_conn_id"
    default_conn_name = "wechat_default"
    conn_type = CONN_TYPE
    hook_name = "WeChat Official Account"

    def __init__(self, wechat_conn_id: str = default_conn_name, store_conn_id: str = DEFAULT_STORE_CONN_ID):
        super().__init__()
        self.wechat_conn_id = wechat_conn_id
        self.store_conn_id = store_conn_id

    @cached_property
    def connection(self):
        return self.get_connection(self.wechat_conn_id)

    @cached_property
    def settings(self) -> AccountSettings:
        return account_settings(self.connection)

    @cached_property
    def client(self) -> WeChatClient:
        return self.make_client()

    def make_client(self, rate_share: float = 1.0) -> WeChatClient:
        """A client whose calls stay within ``rate_share`` of the account's rate limit (a send task takes
        1/send_slots: with the pool allowing send_slots tasks at once, together they keep to the limit)."""
        conn = self.connection
        if not conn.login or not conn.password:
            raise ValueError(f"connection {self.wechat_conn_id!r}: AppID (login) and AppSecret (password) are required")
        egress = read_settings(conn.conn_id, extras(conn))
        try:
            return self._client(conn, rate_share, egress["proxy"], egress["ca_bundle"])
        except ValueError as exc:  # a ca_bundle that cannot be read
            raise ValueError(f"connection {self.wechat_conn_id!r}: {exc}") from exc

    def _client(self, conn, rate_share: float, proxy: str | None, ca_bundle: str | None) -> WeChatClient:
        return WeChatClient(
            conn.login,
            conn.password,
            base_url=conn.host or DEFAULT_BASE_URL,
            token_cache=SqlTokenCache(ready_store(self.store_conn_id)),
            rate_limiter=TokenBucket(self.settings.rate_limit * rate_share),
            mass_spacing=CallSpacing(60 / (MASS_CALLS_PER_MINUTE * rate_share)),
            # WeChat asks for a minute's pause after 45011/45066; an operator may shorten the wait
            max_wait=self.settings.retry_max_wait,
            proxy=proxy,
            ca_bundle=ca_bundle,
            on_secret=mask_secret,  # Airflow's secrets masker: the AppSecret and tokens show as *** in logs
        )

    def get_conn(self) -> WeChatClient:
        return self.client

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Any WeChat API path with the shared token; see ``WeChatClient.call``."""
        return self.client.call(method, path, **kwargs)

    def test_connection(self) -> tuple[bool, str]:
        """Fetch the access token and list the tags: proves AppID, AppSecret, IP whitelist and base URL (and
        that the campaign store, where the token is kept, is set up)."""
        try:
            self.client.check_credentials()  # a token another worker cached must not vouch for this secret
            tags = self.client.list_tags()
        except (WeChatError, WeChatTransportError, ValueError, SchemaMismatch, StoreNotConfigured) as exc:
            return False, str(exc)  # a refused IP's error names the address and where to whitelist it
        return True, f"Connected to {self.client.appid}: {len(tags)} fan tags"


def extras(conn) -> dict[str, Any]:
    """Connection extras by field name; the UI may store them as ``extra__wechat_mp__<name>``."""
    prefix = f"extra__{CONN_TYPE}__"
    raw = conn.extra_dejson or {}
    return {key.removeprefix(prefix): value for key, value in raw.items() if value not in (None, "")}


def account_settings(conn) -> AccountSettings:
    """The account's settings from its connection's extras, each checked (an error names the setting)."""
    values = read_settings(conn.conn_id, extras(conn))
    quotas = dict(DEFAULT_DAILY_QUOTAS)
    quotas.update({path: values[name] for name, path in _QUOTA_EXTRAS.items()})
    return AccountSettings(
        appid=conn.login or "",
        account_type=AccountType(values["account_type"]),
        verified=values["verified"],
        rate_limit=float(values["rate_limit"]),
        confirm_threshold=values["confirm_threshold"],
        schedule_horizon_days=values["schedule_horizon_days"],
        send_slots=values["send_slots"],
        send_concurrency=values["send_concurrency"],
        retry_max_wait=float(values["retry_max_wait"]),
        to_all_once_a_day=values["to_all_once_a_day"],
        cs_rules=values["cs_rules"],
        daily_quotas=quotas,
    )


# Executors whose tasks all run on this machine: they may share the embedded SQLite file.
LOCAL_EXECUTORS = {"LocalExecutor", "SequentialExecutor", "DebugExecutor"}


def ready_store(conn_id: str = DEFAULT_STORE_CONN_ID) -> str:
    """The campaign store's URL once its schema is known to be current. A configured store is migrated by an
    operator (``wechat-campaigns migrate``) and only checked here; the embedded default migrates itself."""
    url = store_url(conn_id)
    return ready(url, migrate=url == _embedded_url())


def store_url(conn_id: str = DEFAULT_STORE_CONN_ID) -> str:
    """SQLAlchemy URL of the campaign store: the ``wechat_store`` connection's database, or, when it is not
    defined and every task runs on this machine, a SQLite file in AIRFLOW_HOME."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        _require_local_executor(conn_id)
        url = _embedded_url()
        _say_where(url)
        return url
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host or conn.schema}"
    uri = conn.get_uri()
    for scheme in ("postgres://", "postgresql://"):
        if uri.startswith(scheme):
            return "postgresql+psycopg2://" + uri.removeprefix(scheme)
    return uri


def _require_local_executor(conn_id: str) -> None:
    """Without a shared store, each machine would keep its own ledger and access token: the exactly-once
    guarantee would be gone and workers would fight over tokens. Stop instead, saying what to set."""
    executors = [name.strip() for name in str(conf.get("core", "executor", fallback="LocalExecutor")).split(",")]
    remote = [name for name in executors if name and name.rsplit(".", 1)[-1].rsplit(":", 1)[-1] not in LOCAL_EXECUTORS]
    if remote:
        raise StoreNotConfigured(
            f"no {conn_id!r} connection, and the executor {remote[0]} runs tasks on several machines, which must "
            f"share one campaign store: set the {conn_id} connection to a PostgreSQL database, e.g. "
            f"AIRFLOW_CONN_{conn_id.upper()}='postgres://user:password@host:5432/wechat' or "
            f"`airflow connections add {conn_id} --conn-type postgres ...`, then run `wechat-campaigns migrate`"
        )


def _embedded_url() -> str:
    return f"sqlite:///{Path(os.environ.get('AIRFLOW_HOME', Path.home() / 'airflow')) / 'wechat_campaigns.db'}"


@cache
def _say_where(url: str) -> None:
    path = url.removeprefix("sqlite:///")
    log.info("campaign store: the embedded SQLite file %s (one machine only; set wechat_store to share one)", path)
