"""The WeChat Official Account API client.

Every call goes through one ``Transport`` (``transport.py``, on aiohttp): ``call()`` waits for one answer, and
a campaign's per-fan sends (``start_template_sends``, ``start_custom_sends``) go many at once, with the same
policy: the account's rate limit, the shared access token, one replacement of a stale token
(40001/40014/42001), and retries with backoff for what the error taxonomy calls transient. Typed helpers
below wrap the endpoints the product uses and return dataclasses.

Retries never create duplicates: an errcode means WeChat did not act, and a transport failure (the request
may have been acted on) is retried only for calls that WeChat de-duplicates or that change nothing
(``idempotent=True``). Customer-service sends pass ``idempotent=False`` and let the caller record the
outcome as unknown.
"""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from ..domain import paths
from ..domain.errors import Action, WeChatError, WeChatTransportError
from .ratelimit import CallSpacing
from .tokens import AccessTokens, MemoryTokenCache, TokenCache
from .transport import CallGroup, CallPolicy, Request, Transport

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
MAX_MASS_OPENIDS = 10_000
MASS_CALLS_PER_MINUTE = 60  # sendall, send and preview together; WeChat answers 45011 beyond
MAX_BATCHGET_OPENIDS = 100
MAX_TAGGING_OPENIDS = 50
TEMPLATE_SEND = paths.MESSAGE_TEMPLATE_SEND
CUSTOM_SEND = paths.MESSAGE_CUSTOM_SEND


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until this account may make one more API call."""

    def try_take(self) -> float:
        """Take one call now (0.0) or say how many seconds until one may be taken."""


# ---------------------------------------------------------------------------------------------- results


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
class FollowersPage:
    total: int
    openids: list[str]
    next_openid: str


@dataclass(frozen=True)
class FanInfo:
    openid: str
    subscribed: bool
    language: str | None = None
    subscribe_time: int | None = None
    unionid: str | None = None
    remark: str | None = None
    tag_ids: tuple[int, ...] = ()
    subscribe_scene: str | None = None
    qr_scene: int | None = None
    qr_scene_str: str | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> FanInfo:
        return cls(
            openid=item["openid"],
            subscribed=bool(item.get("subscribe", 0)),
            language=item.get("language"),
            subscribe_time=item.get("subscribe_time"),
            unionid=item.get("unionid"),
            remark=item.get("remark"),
            tag_ids=tuple(item.get("tagid_list") or ()),
            subscribe_scene=item.get("subscribe_scene"),
            qr_scene=item.get("qr_scene"),
            qr_scene_str=item.get("qr_scene_str"),
        )


@dataclass(frozen=True)
class Tag:
    id: int
    name: str
    count: int = 0


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


@dataclass(frozen=True)
class UploadedMedia:
    media_id: str
    type: str = ""
    created_at: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class ApiQuota:
    daily_limit: int
    used: int
    remain: int


# ----------------------------------------------------------------------------------------------- client


class WeChatClient:
    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token_cache: TokenCache | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        max_wait: float = 60.0,
        rate_limiter: RateLimiter | None = None,
        mass_spacing: CallSpacing | None = None,
        proxy: str | None = None,
        ca_bundle: str | None = None,
        on_secret: Callable[[str], None] = lambda secret: None,
    ):
        self.appid = appid
        self._secret = secret
        self._on_secret = on_secret
        on_secret(secret)  # the AppSecret, and each access token below, never to be logged
        if proxy and (proxy_password := urlsplit(proxy).password):
            on_secret(proxy_password)
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.max_wait = max_wait  # cap on one backoff pause (WeChat asks for 60 s after 45011/45066)
        # A refused call may still use up one of the day's 100 mass calls, so keep under the minute's limit
        # rather than meet 45011.
        self._mass_spacing = mass_spacing
        self.tokens = AccessTokens(
            appid, self._fetch_stable_token, token_cache or MemoryTokenCache(), on_token=on_secret
        )
        policy = CallPolicy(
            connect_timeout=timeout[0],
            read_timeout=timeout[1],
            max_attempts=max_attempts,
            backoff=self._pause,
            take_rate_token=rate_limiter.try_take if rate_limiter is not None else None,
            answer=_answer,
        )
        self._transport = Transport(self.base_url, self.tokens, policy, proxy=proxy, ssl_context=_trusting(ca_bundle))

    def __repr__(self) -> str:  # never show the secret
        return f"WeChatClient(appid={self.appid!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._transport.close()

    # -- the one way in ---------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        files: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Call ``path`` with the account's token; raise ``WeChatError`` / ``WeChatTransportError``."""
        parts = {name: _file_part(part) for name, part in files.items()} if files is not None else None
        request = Request(
            method,
            path,
            params=params,
            body=_json_bytes(body) if body is not None and files is None else None,
            files=parts,
            form=form,
            idempotent=idempotent,
        )
        return self._transport.call(request)

    def _pause(self, exc: BaseException | None, attempt: int) -> float:
        floor = exc.kind.wait_seconds if isinstance(exc, WeChatError) else 0.0
        exponential = 0.5 * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311 - jitter
        return min(self.max_wait, max(floor, exponential))

    # -- access token -----------------------------------------------------------------------------------

    def check_credentials(self) -> None:
        """Ask WeChat for the account's token with this AppID and AppSecret, whatever is cached: proves both,
        the base URL and the IP whitelist. Not forced, so the current token is handed back, not replaced."""
        token, _ = self._fetch_stable_token(force_refresh=False)
        self._on_secret(token)

    def _fetch_stable_token(self, force_refresh: bool) -> tuple[str, int]:
        body = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        answer = self._transport.call(Request("POST", paths.STABLE_TOKEN, body=_json_bytes(body), with_token=False))
        return answer["access_token"], int(answer["expires_in"])

    # -- mass send 群发 ---------------------------------------------------------------------------------

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

    # -- customer service 客服 --------------------------------------------------------------------------

    def send_custom(self, openid: str, message: Mapping[str, Any], *, kf_account: str | None = None) -> None:
        """No platform de-duplication: a transport failure is raised, never retried (maybe delivered)."""
        self.call("POST", CUSTOM_SEND, body=_custom_body(openid, message, kf_account), idempotent=False)

    def start_custom_sends(
        self, messages: Sequence[tuple[str, Mapping[str, Any]]], group: CallGroup
    ) -> Future[list[dict[str, Any] | WeChatError | WeChatTransportError | None]]:
        """Send each (openid, message), ``group.concurrency`` at a time; a lost answer is not retried."""
        bodies = [_json_bytes(_custom_body(openid, message, None)) for openid, message in messages]
        return self._transport.start_each(CUSTOM_SEND, bodies, group=group, idempotent=False)

    def typing(self, openid: str, typing: bool = True) -> None:
        command = "Typing" if typing else "CancelTyping"
        self.call("POST", paths.MESSAGE_CUSTOM_TYPING, body={"touser": openid, "command": command})

    # -- template 模板 ----------------------------------------------------------------------------------

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
            [_json_bytes(message.body()) for message in messages],
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

    # -- fans and tags ----------------------------------------------------------------------------------

    def list_followers_page(self, next_openid: str = "") -> FollowersPage:
        answer = self.call("GET", paths.USER_GET, params={"next_openid": next_openid})
        openids = (answer.get("data") or {}).get("openid", [])
        return FollowersPage(int(answer.get("total", 0)), openids, answer.get("next_openid", ""))

    def iter_followers(self, next_openid: str = "") -> Iterator[FollowersPage]:
        """Pages of followers; the last page is the one after which WeChat has nothing more."""
        while True:
            page = self.list_followers_page(next_openid)
            if not page.openids:
                return
            yield page
            if not page.next_openid:
                return
            next_openid = page.next_openid

    def get_fan(self, openid: str, lang: str = "zh_CN") -> FanInfo:
        return FanInfo.from_api(self.call("GET", paths.USER_INFO, params={"openid": openid, "lang": lang}))

    def get_fans(self, openids: Sequence[str], lang: str = "zh_CN") -> list[FanInfo]:
        if len(openids) > MAX_BATCHGET_OPENIDS:
            raise ValueError(f"user/info/batchget takes at most {MAX_BATCHGET_OPENIDS} openids")
        body = {"user_list": [{"openid": openid, "lang": lang} for openid in openids]}
        answer = self.call("POST", paths.USER_INFO_BATCHGET, body=body)
        return [FanInfo.from_api(item) for item in answer.get("user_info_list", [])]

    def list_tags(self) -> list[Tag]:
        answer = self.call("GET", paths.TAGS_GET)
        return [Tag(int(t["id"]), t["name"], int(t.get("count", 0))) for t in answer.get("tags", [])]

    def create_tag(self, name: str) -> Tag:
        answer = self.call("POST", paths.TAGS_CREATE, body={"tag": {"name": name}})
        return Tag(int(answer["tag"]["id"]), answer["tag"]["name"])

    def rename_tag(self, tag_id: int, name: str) -> None:
        self.call("POST", paths.TAGS_UPDATE, body={"tag": {"id": tag_id, "name": name}})

    def delete_tag(self, tag_id: int) -> None:
        self.call("POST", paths.TAGS_DELETE, body={"tag": {"id": tag_id}})

    def list_tag_fans_page(self, tag_id: int, next_openid: str = "") -> FollowersPage:
        answer = self.call("POST", paths.USER_TAG_GET, body={"tagid": tag_id, "next_openid": next_openid})
        openids = (answer.get("data") or {}).get("openid", [])
        return FollowersPage(int(answer.get("count", 0)), openids, answer.get("next_openid", ""))

    def iter_tag_fans(self, tag_id: int, next_openid: str = "") -> Iterator[FollowersPage]:
        while True:
            page = self.list_tag_fans_page(tag_id, next_openid)
            if not page.openids:
                return
            yield page
            if not page.next_openid:
                return
            next_openid = page.next_openid

    def tag_fans(self, tag_id: int, openids: Sequence[str]) -> None:
        self._tagging(paths.TAGS_MEMBERS_BATCHTAGGING, tag_id, openids)

    def untag_fans(self, tag_id: int, openids: Sequence[str]) -> None:
        self._tagging(paths.TAGS_MEMBERS_BATCHUNTAGGING, tag_id, openids)

    def _tagging(self, path: str, tag_id: int, openids: Sequence[str]) -> None:
        for start in range(0, len(openids), MAX_TAGGING_OPENIDS):
            chunk = list(openids[start : start + MAX_TAGGING_OPENIDS])
            self.call("POST", path, body={"openid_list": chunk, "tagid": tag_id})

    def get_fan_tag_ids(self, openid: str) -> list[int]:
        return list(self.call("POST", paths.TAGS_GETIDLIST, body={"openid": openid}).get("tagid_list", []))

    # -- media and drafts -------------------------------------------------------------------------------

    def upload_temporary_media(self, kind: str, filename: str, content: BinaryIO | bytes) -> UploadedMedia:
        answer = self.call("POST", paths.MEDIA_UPLOAD, params={"type": kind}, files={"media": (filename, content)})
        media_id = answer.get("media_id") or answer.get("thumb_media_id")
        return UploadedMedia(media_id, answer.get("type", kind), answer.get("created_at"))

    def add_permanent_material(
        self,
        kind: str,
        filename: str,
        content: BinaryIO | bytes,
        *,
        title: str | None = None,
        introduction: str | None = None,
    ) -> UploadedMedia:
        form = None
        if kind == "video":
            description = {"title": title or filename, "introduction": introduction or ""}
            form = {"description": json.dumps(description, ensure_ascii=False)}
        answer = self.call(
            "POST",
            paths.MATERIAL_ADD_MATERIAL,
            params={"type": kind},
            files={"media": (filename, content)},
            form=form,
        )
        return UploadedMedia(answer["media_id"], kind, url=answer.get("url"))

    def upload_article_image(self, filename: str, content: BinaryIO | bytes) -> str:
        """An image for use inside an article's HTML body; returns its URL."""
        return self.call("POST", paths.MEDIA_UPLOADIMG, files={"media": (filename, content)})["url"]

    def add_draft(self, articles: Sequence[Mapping[str, Any]]) -> str:
        return self.call("POST", paths.DRAFT_ADD, body={"articles": list(articles)})["media_id"]

    def prepare_mass_video(self, media_id: str, title: str, description: str = "") -> str:
        body = {"media_id": media_id, "title": title, "description": description}
        return self.call("POST", paths.MEDIA_UPLOADVIDEO, body=body)["media_id"]

    # -- quotas -----------------------------------------------------------------------------------------

    def get_quota(self, cgi_path: str) -> ApiQuota:
        answer = self.call("POST", paths.OPENAPI_QUOTA_GET, body={"cgi_path": cgi_path})
        quota = answer["quota"]
        return ApiQuota(int(quota["daily_limit"]), int(quota["used"]), int(quota["remain"]))

    def clear_quota(self) -> None:
        self.call("POST", paths.CLEAR_QUOTA, body={"appid": self.appid})


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # built once: json.dumps(..., ensure_ascii=False) builds one per call


def _json_bytes(body: Any) -> bytes:
    return _ENCODER.encode(body).encode("utf-8")  # raw UTF-8: WeChat rejects some \uXXXX escapes (40033)


def _custom_body(openid: str, message: Mapping[str, Any], kf_account: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"touser": openid, **message}
    if kf_account:
        body["customservice"] = {"kf_account": kf_account}
    return body


def _answer(path: str, status: int, data: bytes) -> dict[str, Any]:
    """WeChat's JSON answer, or the error it stands for."""
    if status >= 400:
        raise WeChatTransportError(path, f"HTTP {status}")
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise WeChatTransportError(path, exc) from exc
    if not isinstance(answer, dict):
        raise WeChatTransportError(path, f"unexpected answer {answer!r:.80}")
    errcode = answer.get("errcode", 0)
    if errcode:
        raise WeChatError(int(errcode), str(answer.get("errmsg", "")), path=path, payload=answer)
    return answer


def _trusting(ca_bundle: str | None) -> ssl.SSLContext | None:
    """Verification against ``ca_bundle``'s CAs instead of the system's (where a proxy re-signs WeChat's HTTPS)."""
    if not ca_bundle:
        return None
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ca_bundle {ca_bundle!r} is not a readable PEM file of CA certificates ({exc})") from exc


def _file_part(part: tuple[str, BinaryIO | bytes]) -> tuple[str, bytes]:
    filename, content = part
    return filename, content if isinstance(content, bytes) else content.read()
