"""Customer-service messages (客服): one fan at a time, or many at once for a campaign."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from ...domain import paths
from ...domain.errors import WeChatError, WeChatTransportError
from ..transport import CallGroup, json_bytes
from ._family import ApiFamily

CUSTOM_SEND = paths.MESSAGE_CUSTOM_SEND


class CustomApi(ApiFamily):
    def send_custom(self, openid: str, message: Mapping[str, Any], *, kf_account: str | None = None) -> None:
        """No platform de-duplication: a transport failure is raised, never retried (maybe delivered)."""
        self.call("POST", CUSTOM_SEND, body=_custom_body(openid, message, kf_account), idempotent=False)

    def start_custom_sends(
        self, messages: Sequence[tuple[str, Mapping[str, Any]]], group: CallGroup
    ) -> Future[list[dict[str, Any] | WeChatError | WeChatTransportError | None]]:
        """Send each (openid, message), ``group.concurrency`` at a time; a lost answer is not retried."""
        bodies = [json_bytes(_custom_body(openid, message, None)) for openid, message in messages]
        return self._transport.start_each(CUSTOM_SEND, bodies, group=group, idempotent=False)

    def typing(self, openid: str, typing: bool = True) -> None:
        command = "Typing" if typing else "CancelTyping"
        self.call("POST", paths.MESSAGE_CUSTOM_TYPING, body={"touser": openid, "command": command})


def _custom_body(openid: str, message: Mapping[str, Any], kf_account: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"touser": openid, **message}
    if kf_account:
        body["customservice"] = {"kf_account": kf_account}
    return body
