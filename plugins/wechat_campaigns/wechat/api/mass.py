"""Mass sends (群发): to a tag, to all followers, to a list of openids; preview, status, speed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from ...domain import paths
from ...domain.errors import Action, WeChatError
from ..ratelimit import CallSpacing
from ._family import ApiFamily

MAX_MASS_OPENIDS = 10_000
MASS_CALLS_PER_MINUTE = 60  # sendall, send and preview together; WeChat answers 45011 beyond


@dataclass(frozen=True)
class MassSendResult:
    msg_id: int
    msg_data_id: int | None = None
    already_sent: bool = False  # 45065: WeChat already had this clientmsgid; msg_id is the existing job


@dataclass(frozen=True)
class MassStatus:
    msg_id: int
    status: str  # SEND_SUCCESS | SENDING | SEND_FAIL | DELETE


@dataclass(frozen=True)
class MassSpeed:
    speed: int
    realspeed: int


class MassApi(ApiFamily):
    _mass_spacing: CallSpacing | None

    def send_mass_to_tag(
        self, tag_id: int | None, message: Mapping[str, Any], *, clientmsgid: str, ignore_reprint: bool = False
    ) -> MassSendResult:
        """``message`` is ``{"msgtype": ..., <msgtype>: {...}}``; ``tag_id=None`` sends to all followers."""
        target = {"is_to_all": True} if tag_id is None else {"is_to_all": False, "tag_id": tag_id}
        body = {"filter": target, **message, "send_ignore_reprint": int(ignore_reprint)}
        return self._mass(paths.MESSAGE_MASS_SENDALL, body, clientmsgid)

    def send_mass_to_openids(
        self,
        openids: Sequence[str],
        message: Mapping[str, Any],
        *,
        clientmsgid: str,
        ignore_reprint: bool = False,
    ) -> MassSendResult:
        if not 2 <= len(openids) <= MAX_MASS_OPENIDS:
            raise ValueError(f"mass/send takes 2..{MAX_MASS_OPENIDS} openids, got {len(openids)}")
        body = {"touser": list(openids), **message, "send_ignore_reprint": int(ignore_reprint)}
        return self._mass(paths.MESSAGE_MASS_SEND, body, clientmsgid)

    def _mass(self, path: str, body: dict[str, Any], clientmsgid: str) -> MassSendResult:
        if len(clientmsgid.encode("utf-8")) > 64:
            raise ValueError("clientmsgid must be at most 64 bytes")
        body["clientmsgid"] = clientmsgid
        try:
            with self._paced_mass():
                answer = self.call("POST", path, body=body)
        except WeChatError as exc:
            if exc.action is Action.ALREADY_DONE and "msg_id" in exc.payload:
                return MassSendResult(msg_id=int(exc.payload["msg_id"]), already_sent=True)
            raise
        data_id = answer.get("msg_data_id")
        return MassSendResult(int(answer["msg_id"]), int(data_id) if data_id is not None else None)

    def preview_mass(self, openid: str, message: Mapping[str, Any]) -> int | None:
        with self._paced_mass():
            answer = self.call("POST", paths.MESSAGE_MASS_PREVIEW, body={"touser": openid, **message})
        return int(answer["msg_id"]) if "msg_id" in answer else None

    def _paced_mass(self) -> AbstractContextManager[None]:
        return self._mass_spacing.call() if self._mass_spacing is not None else nullcontext()

    def get_mass_status(self, msg_id: int) -> MassStatus:
        answer = self.call("POST", paths.MESSAGE_MASS_GET, body={"msg_id": str(msg_id)})
        return MassStatus(int(answer["msg_id"]), answer["msg_status"])

    def delete_mass(self, msg_id: int, article_idx: int = 0) -> None:
        self.call("POST", paths.MESSAGE_MASS_DELETE, body={"msg_id": msg_id, "article_idx": article_idx})

    def get_mass_speed(self) -> MassSpeed:
        answer = self.call("POST", paths.MESSAGE_MASS_SPEED_GET, body={})
        return MassSpeed(int(answer["speed"]), int(answer.get("realspeed", 0)))

    def set_mass_speed(self, speed: int) -> None:
        self.call("POST", paths.MESSAGE_MASS_SPEED_SET, body={"speed": speed})
