"""Template messages (模板消息): sends, one or many at once, and the account's templates and industry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ...domain import paths
from ...domain.errors import WeChatError, WeChatTransportError
from ..transport import CallGroup, json_bytes
from ._family import ApiFamily

TEMPLATE_SEND = paths.MESSAGE_TEMPLATE_SEND


@dataclass(frozen=True)
class TemplateMessage:
    openid: str
    template_id: str
    data: Mapping[str, str]
    client_msg_id: str  # WeChat sends one message per openid and id for 10 minutes
    url: str | None = None
    miniprogram: Mapping[str, str] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "touser": self.openid,
            "template_id": self.template_id,
            "client_msg_id": self.client_msg_id,
            "data": {key: {"value": value} for key, value in self.data.items()},
        }
        if self.url:
            body["url"] = self.url
        if self.miniprogram:
            body["miniprogram"] = dict(self.miniprogram)
        return body


@dataclass(frozen=True)
class TemplateSendResult:
    msgid: int


@dataclass(frozen=True)
class PrivateTemplate:
    template_id: str
    title: str
    content: str
    example: str = ""
    primary_industry: str = ""
    deputy_industry: str = ""


@dataclass(frozen=True)
class Industry:
    primary: tuple[str, str]
    secondary: tuple[str, str]


class TemplateApi(ApiFamily):
    def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        client_msg_id: str,
        url: str | None = None,
        miniprogram: Mapping[str, str] | None = None,
    ) -> TemplateSendResult:
        message = TemplateMessage(openid, template_id, data, client_msg_id, url, miniprogram)
        answer = self.call("POST", TEMPLATE_SEND, body=message.body())
        return TemplateSendResult(int(answer["msgid"]))

    def start_template_sends(
        self, messages: Sequence[TemplateMessage], group: CallGroup
    ) -> Future[list[TemplateSendResult | WeChatError | WeChatTransportError | None]]:
        """Send each message, ``group.concurrency`` at a time (see ``Transport.start_each``). A lost answer is
        retried: WeChat de-duplicates by client_msg_id."""
        return self._transport.start_each(
            TEMPLATE_SEND,
            [json_bytes(message.body()) for message in messages],
            group=group,
            idempotent=True,
            convert=lambda answer: TemplateSendResult(int(answer["msgid"])),
        )

    def set_industry(self, industry_id1: str, industry_id2: str) -> None:
        body = {"industry_id1": str(industry_id1), "industry_id2": str(industry_id2)}
        self.call("POST", paths.TEMPLATE_API_SET_INDUSTRY, body=body)

    def get_industry(self) -> Industry:
        answer = self.call("GET", paths.TEMPLATE_GET_INDUSTRY)

        def pair(key: str) -> tuple[str, str]:
            item = answer.get(key) or {}
            return item.get("first_class", ""), item.get("second_class", "")

        return Industry(pair("primary_industry"), pair("secondary_industry"))

    def add_template(self, short_id: str, keyword_names: Sequence[str] = ()) -> str:
        body = {"template_id_short": short_id, "keyword_name_list": list(keyword_names)}
        return self.call("POST", paths.TEMPLATE_API_ADD_TEMPLATE, body=body)["template_id"]

    def list_templates(self) -> list[PrivateTemplate]:
        answer = self.call("GET", paths.TEMPLATE_GET_ALL_PRIVATE_TEMPLATE)
        fields = PrivateTemplate.__dataclass_fields__
        return [
            PrivateTemplate(**{k: v for k, v in item.items() if k in fields})
            for item in answer.get("template_list", [])
        ]

    def delete_template(self, template_id: str) -> None:
        self.call("POST", paths.TEMPLATE_DEL_PRIVATE_TEMPLATE, body={"template_id": template_id})
