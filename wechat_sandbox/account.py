"""One Official Account: its settings (set through the admin API) and everything WeChat keeps for it."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from typing import Any

from .model import (
    ACCOUNT_TYPES,
    DEFAULT_QUOTAS,
    ENCRYPT_MODES,
    FIRST_TAG_ID,
    KF_CLASSES,
    KF_RULES,
    KF_RULES_CURRENT,
    QUOTA_ALIASES,
    SERVICE_TO_ALL_PER_DAY,
    SYSTEM_TAGS,
    ClientMsgRecord,
    Draft,
    Fan,
    MassJob,
    Media,
    Tag,
    Template,
    default_aes_key,
    default_original_id,
    mass_outcome,
)

# Settings an admin may give, with their defaults. ``templates``, ``industry``, ``fans`` are handled apart.
SETTINGS: dict[str, Any] = {
    "secret": None,
    "type": "service",
    "verified": True,
    "name": "",
    "original_id": None,
    "callback_url": None,
    "token": "sandbox-token",
    "encoding_aes_key": None,
    "encrypt_mode": "plain",
    "callback_timeout": 5.0,  # seconds WeChat waits for the receiver's answer before retrying
    "quotas": {},
    "token_expires_in": 7200,
    "kf_rules": KF_RULES_CURRENT,  # "2023-05" (WeChat's rules now) or "2021-06" (message 20, payment opens 20)
    "kf_windows": {},
    "mass_finish_delay": 0.5,
    "template_report_delay": 0.0,  # seconds from a template send's answer to its TEMPLATESENDJOBFINISH push
    "mass_speed": 0,
    "to_all_daily_limit": SERVICE_TO_ALL_PER_DAY,  # is_to_all sends a Beijing day (service); 0 or None: no daily rule
    "next_mass_outcome": None,  # {"status", "error_count", "jobs"}: how the next mass jobs end (None: success)
    "implicit_clientmsgid": False,  # WeChat derives a clientmsgid from scope+content when none is given
    "reject_unicode_escapes": True,  # 40033 for \uXXXX escapes of non-ASCII characters
    "ip_whitelist": None,  # caller addresses allowed to fetch tokens and call the API (None: any); else 40164
}


class Account:
    # The settings, one per key of SETTINGS: set from its defaults in __init__ and by configure().
    secret: str | None
    type: str
    verified: bool
    name: str
    original_id: str
    callback_url: str | None
    token: str
    encoding_aes_key: str
    encrypt_mode: str
    callback_timeout: float
    quotas: dict[str, int | None]
    token_expires_in: int
    kf_rules: str
    kf_windows: dict[str, list[Any] | None]
    mass_finish_delay: float
    template_report_delay: float
    mass_speed: int
    to_all_daily_limit: int | None
    next_mass_outcome: dict[str, Any] | None
    implicit_clientmsgid: bool
    reject_unicode_escapes: bool
    ip_whitelist: list[str] | None

    def __init__(self, appid: str) -> None:
        self.appid = appid
        for name, default in SETTINGS.items():
            setattr(self, name, default.copy() if isinstance(default, dict) else default)
        self.original_id = default_original_id(appid)
        self.encoding_aes_key = default_aes_key(appid)
        self.limits: dict[str, int | None] = dict(DEFAULT_QUOTAS)
        self.windows: dict[str, list[Any]] = {k: list(v) for k, v in KF_RULES[KF_RULES_CURRENT].items()}
        # what WeChat keeps
        self.fans: dict[str, Fan] = {}
        self.tags: dict[int, Tag] = {i: Tag(i, name) for i, name in SYSTEM_TAGS.items()}
        self.next_tag_id = FIRST_TAG_ID
        self.templates: dict[str, Template] = {}
        self.industry: tuple[str, str] | None = None
        self.industry_changed_month: str | None = None
        self.media: dict[str, Media] = {}
        self.drafts: dict[str, Draft] = {}
        self.jobs: dict[int, MassJob] = {}
        self.pending_jobs: list[MassJob] = []
        self.clientmsgids: dict[str, ClientMsgRecord] = {}
        self.template_dedup: dict[tuple[str, str], tuple[int, float]] = {}
        self.inbox: dict[str, list[tuple[str, str, dict[str, Any], str, float]]] = {}
        # counters: key -> [period key, count]
        self.daily: dict[str, list[Any]] = {}
        self.mass_minute: list[Any] = [0, 0]
        self.to_all_month: list[Any] = ["", 0]
        self.to_all_day: list[Any] = ["", 0]
        self.mass_day: list[Any] = ["", 0]
        self.clear_quota_month: list[Any] = ["", 0]
        self.clear_api_quota_month: list[Any] = ["", 0]
        self.stable_force_day: list[Any] = ["", 0]
        self.stable_token: str | None = None
        self.stable_issued_at = 0.0
        self.classic_token: str | None = None
        # statistics for the admin API
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.errors_by_path: dict[str, Counter[str]] = {}
        self.stable_token_refreshes = 0
        self.token_refreshes = 0

    # -- settings ---------------------------------------------------------------------------------------

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply admin settings (validated); unknown keys are an error so typos don't pass silently."""
        for name, value in settings.items():
            if name not in SETTINGS:
                raise ValueError(f"unknown account field {name!r}")
            setattr(self, name, value)
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError("secret is required")
        if self.type not in ACCOUNT_TYPES:
            raise ValueError(f"type must be one of {ACCOUNT_TYPES}")
        if self.encrypt_mode not in ENCRYPT_MODES:
            raise ValueError(f"encrypt_mode must be one of {ENCRYPT_MODES}")
        _check_aes_key(self.encoding_aes_key)
        if not isinstance(self.token_expires_in, int) or self.token_expires_in <= 0:
            raise ValueError("token_expires_in must be a positive integer")
        for delay in ("mass_finish_delay", "template_report_delay"):
            if not isinstance(getattr(self, delay), int | float) or getattr(self, delay) < 0:
                raise ValueError(f"{delay} must be a number of seconds >= 0")
        if self.ip_whitelist is not None and not (
            isinstance(self.ip_whitelist, list) and all(isinstance(ip, str) for ip in self.ip_whitelist)
        ):
            raise ValueError("ip_whitelist must be a list of IP addresses or null")
        self.verified = bool(self.verified)
        self.limits = dict(DEFAULT_QUOTAS)
        for path, limit in (self.quotas or {}).items():
            if limit is not None and (not isinstance(limit, int) or limit < 0):
                raise ValueError(f"quota for {path} must be an integer >= 0 or null")
            self.limits[QUOTA_ALIASES.get(path, path)] = limit
        if self.kf_rules not in KF_RULES:
            raise ValueError(f"kf_rules must be one of {list(KF_RULES)}")
        self.windows = {k: list(v) for k, v in KF_RULES[self.kf_rules].items()}
        for cls, value in (self.kf_windows or {}).items():
            if cls not in KF_CLASSES:
                raise ValueError(f"kf_windows: unknown interaction class {cls!r}")
            if value is None:  # this class opens no window
                self.windows.pop(cls, None)
                continue
            seconds, limit = value
            self.windows[cls] = [float(seconds), None if limit is None else int(limit)]
        daily = self.to_all_daily_limit
        if daily is not None and (not isinstance(daily, int) or isinstance(daily, bool) or daily < 0):
            raise ValueError("to_all_daily_limit must be an integer >= 0 or null")
        if self.next_mass_outcome is not None:
            self.next_mass_outcome = mass_outcome(self.next_mass_outcome, jobs=True)

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTINGS}

    def view(self) -> dict[str, Any]:
        view = {"appid": self.appid, **self.settings()}
        view["effective_quotas"] = self.limits
        view["effective_kf_windows"] = self.windows
        view["industry"] = list(self.industry) if self.industry else None
        view["templates"] = [t.view() for t in self.templates.values()]
        view["counts"] = {
            "fans": len(self.fans),
            "subscribed": sum(1 for f in self.fans.values() if f.subscribed),
            "tags": len(self.user_tags()),
            "templates": len(self.templates),
            "media": len(self.media),
            "drafts": len(self.drafts),
            "mass_jobs": len(self.jobs),
        }
        return view

    # -- small helpers used by the rules ----------------------------------------------------------------

    def user_tags(self) -> list[Tag]:
        return [t for t in self.tags.values() if t.id >= FIRST_TAG_ID]

    def tag_by_name(self, name: str) -> Tag | None:
        for tag in self.tags.values():
            if tag.name == name:
                return tag
        return None

    def ensure_tag(self, name: str) -> Tag:
        tag = self.tag_by_name(name)
        if tag is None:
            tag = Tag(self.next_tag_id, name)
            self.tags[tag.id] = tag
            self.next_tag_id += 1
        return tag

    def set_fan_tags(self, fan: Fan, tag_ids: list[int]) -> None:
        for tag_id in fan.tags:
            self.tags[tag_id].members.pop(fan.openid, None)
        fan.tags = []
        for tag_id in tag_ids:
            if tag_id not in fan.tags:
                fan.tags.append(tag_id)
                self.tags[tag_id].members[fan.openid] = None

    def deliver(self, openid: str, kind: str, msgtype: str, content: dict[str, Any], msg_id: str, at: float) -> None:
        box = self.inbox.get(openid)
        if box is None:
            box = self.inbox[openid] = []
        box.append((kind, msgtype, content, msg_id, at))

    def count(self, key: list[Any], period: Any) -> int:
        """The count of a [period, count] counter, reset when the period moved on."""
        if key[0] != period:
            key[0], key[1] = period, 0
        return key[1]

    def record_call(self, path: str, errcode: int) -> None:
        self.calls[path] += 1
        if errcode:
            code = str(errcode)
            self.errors[code] += 1
            by_path = self.errors_by_path.get(path)
            if by_path is None:
                by_path = self.errors_by_path[path] = Counter()
            by_path[code] += 1


def _check_aes_key(key: Any) -> None:
    if not isinstance(key, str) or len(key) != 43:
        raise ValueError("encoding_aes_key must be 43 characters")
    try:
        decoded = base64.b64decode(key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"encoding_aes_key is not base64: {exc}") from exc
    if len(decoded) != 32:
        raise ValueError("encoding_aes_key must decode to 32 bytes")
