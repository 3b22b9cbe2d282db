"""What every step of a run needs: the spec, the account, the store and the WeChat client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy.engine import Engine

from ..domain import paths
from ..domain.account import AccountSettings
from ..domain.eligibility import CS_RULES_BY_NAME, WindowRules
from ..domain.spec import CampaignSpec, MessageKind
from ..store import quotas
from ..store.db import engine_for
from ..wechat.client import WeChatClient

API_OF_KIND = {
    MessageKind.MASS: paths.MESSAGE_MASS_SEND,  # sendall and send share one daily budget
    MessageKind.TEMPLATE: paths.MESSAGE_TEMPLATE_SEND,
    MessageKind.CUSTOMER_SERVICE: paths.MESSAGE_CUSTOM_SEND,
}


class QuotaWait(Exception):
    """A quota is used up: continue at ``until`` (the next Beijing midnight, or month)."""

    def __init__(self, until: datetime, why: str = "daily quota used up"):
        self.until = until
        super().__init__(f"{why}; continuing at {until.isoformat()}")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CampaignRun:
    run_key: str  # "<dag_id>/<run_id>": names the run in the store and in WeChat de-duplication ids
    spec: CampaignSpec
    settings: AccountSettings
    store_url: str
    make_client: Callable[[], WeChatClient]
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def appid(self) -> str:
        return self.settings.appid

    @property
    def kind(self) -> MessageKind:
        return self.spec.kind

    @property
    def api(self) -> str:
        return API_OF_KIND[self.spec.kind]

    @property
    def cs_rules(self) -> WindowRules:
        """The customer-service window rules the account's connection names (today's by default)."""
        return CS_RULES_BY_NAME[self.settings.cs_rules]

    @property
    def daily_quota(self) -> int | None:
        return self.settings.daily_quota(self.api)

    def room_today(self) -> int | None:
        """Calls of the run's kind left in today's quota by our count (None: no limit configured)."""
        return quotas.room(self.engine, self.appid, self.api, self.daily_quota, self.now())

    @cached_property
    def engine(self) -> Engine:
        return engine_for(self.store_url)

    @cached_property
    def client(self) -> WeChatClient:
        return self.make_client()

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        """Close the client's connections (and its event loop's thread), if it made one."""
        if "client" in self.__dict__:
            self.client.close()
