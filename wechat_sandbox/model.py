"""The sandbox's records: accounts, fans, tags, tokens, media, drafts, templates, mass jobs.

Plain slotted dataclasses; all of them are mutated only on the event loop. Platform defaults that an
account may override live here too, next to the records they apply to.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_TYPES = ("service", "subscription")
ENCRYPT_MODES = ("plain", "compat", "safe")

TOKEN_GRACE_SECONDS = 300  # an old token stays valid 5 minutes after a refresh
TEMP_MEDIA_TTL = 3 * 86400  # temporary media live 3 days
TEMPLATE_DEDUP_SECONDS = 600  # client_msg_id de-duplication window
CLIENTMSGID_DEDUP_SECONDS = 86400  # mass clientmsgid records are checked over 24 h
CLIENTMSGID_RETRY_SECONDS = 60  # 45066 when a failed clientmsgid is retried sooner
MASS_PER_MINUTE = 60
MONTHLY_MASS_CAP = 4  # mass messages a fan of a service account receives per natural month
SERVICE_TO_ALL_PER_MONTH = 4
SERVICE_TO_ALL_PER_DAY = 1  # default of the account setting to_all_daily_limit
SUBSCRIPTION_MASS_PER_DAY = 1
STABLE_FORCE_PER_DAY = 20
STABLE_FORCE_MIN_INTERVAL = 30
CLEAR_QUOTA_PER_MONTH = 10  # clear_quota and clear_quota/v2 together
CLEAR_API_QUOTA_PER_MONTH = 50  # openapi/quota/clear, one API at a time, a budget of its own
MAX_TEMPLATES = 25
MAX_TAGS = 100
MAX_TAGS_PER_FAN = 20
FIRST_TAG_ID = 100
SYSTEM_TAGS = {0: "未分组", 1: "黑名单", 2: "星标组"}
VISIBLE_SYSTEM_TAGS = (2,)  # tags/get lists 星标组 like WeChat does

# Daily call quotas by cgi path (WeChat's API limits page, 接口调用频次限制). Paths not listed here are unlimited.
DEFAULT_QUOTAS: dict[str, int] = {
    "/cgi-bin/token": 2_000,
    "/cgi-bin/stable_token": 500_000,
    "/cgi-bin/message/custom/send": 500_000,
    "/cgi-bin/message/mass/sendall": 100,
    "/cgi-bin/message/template/send": 100_000,
    "/cgi-bin/user/get": 500,
    "/cgi-bin/user/info": 5_000_000,
    "/cgi-bin/user/info/batchget": 5_000_000,
    "/cgi-bin/draft/add": 1_000,
    "/cgi-bin/media/upload": 100_000,
}
# Paths that draw on another path's counter: mass sendall and send share the 100/day.
QUOTA_ALIASES: dict[str, str] = {"/cgi-bin/message/mass/send": "/cgi-bin/message/mass/sendall"}
# Reported by openapi/quota/get as rate_limit (the mass one is enforced: 45011).
RATE_LIMITS: dict[str, int] = {"/cgi-bin/message/mass/sendall": MASS_PER_MINUTE, "/cgi-bin/stable_token": 10_000}

# Customer-service windows: interaction class -> [seconds open, messages allowed or None], by rule set (the
# account setting ``kf_rules``). WeChat's change of 30 May 2023 (in force by August 2023) cut a fan's message to
# 5 replies and dropped the payment (and rights-complaint) windows; "2021-06" is the rule before it.
KF_RULES: dict[str, dict[str, list[Any]]] = {
    "2023-05": {
        "message": [48 * 3600, 5],
        "menu": [60, 3],
        "subscribe": [60, 3],
        "scan": [60, 3],
    },
    "2021-06": {
        "message": [48 * 3600, 20],
        "menu": [60, 3],
        "subscribe": [60, 3],
        "scan": [60, 3],
        "payment": [48 * 3600, 20],
        "rights_complaint": [48 * 3600, 20],
    },
}
KF_RULES_CURRENT = "2023-05"
KF_CLASSES = ("message", "menu", "subscribe", "scan", "payment", "rights_complaint")
# Which fan action is of which class; VIEW, LOCATION and unsubscribe are of none. A class opens a window only
# if the account's rules (or its kf_windows) give it one: under the current rules payment and rights_complaint
# open nothing.
INTERACTION_CLASS: dict[str, str | None] = {
    **dict.fromkeys(("text", "image", "voice", "video", "shortvideo", "location", "link"), "message"),
    **dict.fromkeys(("click", "scancode_push", "scancode_waitmsg"), "menu"),
    "subscribe": "subscribe",
    "subscribe_qr": "subscribe",
    "scan": "scan",
    "payment": "payment",
    "rights_complaint": "rights_complaint",
    "view": None,
    "location_event": None,
    "unsubscribe": None,
}
EVENT_KINDS = tuple(INTERACTION_CLASS)


# How a mass job may end (MASSSENDJOBFINISH Status): "err(N)" is a refusal, e.g. err(40001) the administrator
# refused the send under 群发保护, err(40002) nobody confirmed it within 30 minutes, err(20001) content review.
MASS_RESULT = re.compile(r"send success|send fail|err\(\d+\)")


def mass_outcome(value: Any, *, jobs: bool = False) -> dict[str, Any]:
    """A validated mass-job outcome ``{"status", "error_count" (None: every fan for a failure, 0 for success)}``,
    plus ``jobs`` (how many of the next jobs it applies to, default 1) for the account setting."""
    if not isinstance(value, dict):
        raise ValueError('a mass outcome is {"status": "send fail" | "err(40001)" | ..., "error_count": n}')
    unknown = set(value) - {"status", "error_count", *(("jobs",) if jobs else ())}
    if unknown:
        raise ValueError(f"mass outcome: unknown fields {sorted(unknown)}")
    status = value.get("status", "send success")
    if not isinstance(status, str) or not MASS_RESULT.fullmatch(status):
        raise ValueError('mass outcome: status is "send success", "send fail" or "err(N)"')
    errors = value.get("error_count")
    if errors is not None and (not isinstance(errors, int) or isinstance(errors, bool) or errors < 0):
        raise ValueError("mass outcome: error_count is an integer >= 0 or null")
    outcome: dict[str, Any] = {"status": status, "error_count": errors}
    if jobs:
        count = value.get("jobs", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("mass outcome: jobs is an integer >= 1")
        outcome["jobs"] = count
    return outcome


def default_original_id(appid: str) -> str:
    return "gh_" + hashlib.sha1(appid.encode()).hexdigest()[:12]  # noqa: S324 - an id, not security


def default_aes_key(appid: str) -> str:
    return base64.b64encode(hashlib.sha256(appid.encode()).digest()).decode()[:43]


def default_openid_prefix(appid: str) -> str:
    return "o" + hashlib.sha1(appid.encode()).hexdigest()[:6]  # noqa: S324 - an id, not security


@dataclass(slots=True)
class TokenRecord:
    token: str
    appid: str
    source: str  # "token" (classic) or "stable"
    issued_at: float
    expires_at: float  # natural expiry: 42001 afterwards
    revoked_at: float | None = None  # superseded or invalidated: 40001 from this moment

    def state(self, now: float) -> str:
        if self.revoked_at is not None and now >= self.revoked_at:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        return "valid"


@dataclass(slots=True)
class Fan:
    openid: str
    subscribed: bool = True
    tags: list[int] = field(default_factory=list)
    mass_month: str = ""  # natural month (Asia/Shanghai) that mass_count counts
    mass_count: int = 0
    blocks_templates: bool | str = False  # True -> 43101; "async" -> accepted, then failed:user block
    template_failure: bool = False  # accepted, then "failed: system failed"
    blacklisted: bool = False
    refuses_messages: bool = False
    language: str = "zh_CN"
    remark: str = ""
    subscribe_time: int = 0
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene: int = 0
    qr_scene_str: str = ""
    unionid: str | None = None
    wxname: str | None = None  # WeChat ID, for mass/preview towxname
    windows: dict[str, list[Any]] = field(default_factory=dict)  # class -> [opened, expires, limit, used]
    last_message_at: float = 0.0  # last inbound message, for typing (45080)
    typing_until: float = 0.0


@dataclass(slots=True)
class Tag:
    id: int
    name: str
    members: dict[str, None] = field(default_factory=dict)  # ordered set of openids


@dataclass(slots=True)
class Media:
    media_id: str
    type: str  # image | voice | video | thumb | mpvideo (uploadvideo result)
    permanent: bool
    filename: str = ""
    size: int = 0
    sha256: str = ""
    created_at: float = 0.0
    url: str | None = None
    title: str | None = None
    description: str | None = None
    source_media_id: str | None = None

    def usable(self, now: float) -> bool:
        return self.permanent or now < self.created_at + TEMP_MEDIA_TTL


@dataclass(slots=True)
class Draft:
    media_id: str
    articles: list[dict[str, Any]]
    created_at: float


@dataclass(slots=True)
class Template:
    template_id: str
    title: str
    content: str
    example: str = ""
    primary_industry: str = ""
    deputy_industry: str = ""
    industry_id: str | None = None  # industry of a library template; None = category template, kept on change
    short_id: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "template_id": self.template_id,
            "title": self.title,
            "primary_industry": self.primary_industry,
            "deputy_industry": self.deputy_industry,
            "content": self.content,
            "example": self.example,
        }


@dataclass(slots=True)
class MassJob:
    msg_id: int
    path: str
    msgtype: str
    target: dict[str, Any]
    clientmsgid: str | None
    created_at: float
    finish_at: float
    total: int = 0
    filter_count: int = 0
    sent: int = 0
    error: int = 0
    status: str = "SENDING"
    msg_data_id: int | None = None
    article_urls: list[str] = field(default_factory=list)
    finished_at: float | None = None
    result: str = "send success"  # the Status of MASSSENDJOBFINISH: send success | send fail | err(N)

    def view(self, iso) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "msg_data_id": self.msg_data_id,
            "path": self.path,
            "clientmsgid": self.clientmsgid,
            "target": self.target,
            "msgtype": self.msgtype,
            "total": self.total,
            "filter": self.filter_count,
            "sent": self.sent,
            "error": self.error,
            "status": self.status,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at) if self.finished_at else None,
            "article_urls": self.article_urls,
            "result": self.result,
        }


@dataclass(slots=True)
class ClientMsgRecord:
    msg_id: int | None = None  # the job this clientmsgid created
    created_at: float = 0.0
    failed_at: float | None = None  # last attempt that created nothing
