"""The sandbox's whole state and the operations the admin API and the WeChat rules share.

One ``Sandbox`` lives in the server process; every mutation happens on the event loop, so nothing is locked.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from typing import Any

from .account import Account
from .callbacks import CallbackPusher
from .clock import Clock, parse_time
from .faults import Faults
from .model import (
    INTERACTION_CLASS,
    KF_CLASSES,
    TOKEN_GRACE_SECONDS,
    Fan,
    MassJob,
    Template,
    TokenRecord,
    default_openid_prefix,
)
from .templates import from_library, industries

OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_LENGTH = 136
TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")
FAN_FIELDS = {
    "openid",
    "subscribed",
    "tags",
    "last_interaction",
    "mass_received_this_month",
    "blocks_templates",
    "template_failure",
    "blacklisted",
    "refuses_messages",
    "language",
    "remark",
    "subscribe_time",
    "subscribe_scene",
    "qr_scene",
    "qr_scene_str",
    "unionid",
    "wxname",
}
FIRST_IDS = {
    "mass": 3_147_494_552,  # mass msg_id, like the ids WeChat shows
    "msg_data": 2_247_483_650,
    "template": 3_717_005_636_572_528_642,  # template msgid: beyond 2^53 like real ones
    "custom": 5_000_000_001,  # ids the sandbox gives customer-service messages in inboxes
    "inbound": 23_876_543_210_000_001,  # MsgId of messages fans send
}


class AdminError(Exception):
    """A bad admin request: HTTP 400 (or ``status``) with ``{"error": text}``."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.status = status


class Sandbox:
    def __init__(self) -> None:
        self.clock = Clock()
        self.faults = Faults()
        self.pusher = CallbackPusher(self.clock)
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.ids: dict[str, int] = dict(FIRST_IDS)
        self.unattributed_calls: Counter[str] = Counter()
        self.unattributed_errors: Counter[str] = Counter()
        self.loop: asyncio.AbstractEventLoop | None = None

    def reset(self) -> None:
        self.clock.reset()
        self.faults.clear()
        self.pusher.reset()
        self.accounts.clear()
        self.tokens.clear()
        self.ids = dict(FIRST_IDS)
        self.unattributed_calls.clear()
        self.unattributed_errors.clear()

    def next_id(self, kind: str) -> int:
        value = self.ids[kind]
        self.ids[kind] = value + 1
        return value

    def account(self, appid: Any) -> Account:
        account = self.accounts.get(appid) if isinstance(appid, str) else None
        if account is None:
            raise AdminError(f"unknown appid {appid!r}", 404)
        return account

    # -- tokens -----------------------------------------------------------------------------------------

    def issue_token(self, account: Account, source: str) -> TokenRecord:
        now = self.clock.now()
        token = secrets.token_urlsafe(102)  # 136 characters of [A-Za-z0-9_-]
        record = TokenRecord(token, account.appid, source, now, now + account.token_expires_in)
        self.tokens[token] = record
        return record

    def revoke_later(self, token: str | None) -> None:
        """A refresh superseded ``token``: it keeps working for the 5-minute handover."""
        record = self.tokens.get(token) if token else None
        if record is not None:
            deadline = self.clock.now() + TOKEN_GRACE_SECONDS
            if record.revoked_at is None or record.revoked_at > deadline:
                record.revoked_at = deadline

    def account_tokens(self, appid: str) -> list[TokenRecord]:
        return [r for r in self.tokens.values() if r.appid == appid]

    # -- accounts ---------------------------------------------------------------------------------------

    def create_account(self, data: dict[str, Any]) -> Account:
        """Create or replace an account (with its templates, industry, fans and fan groups)."""
        data = dict(data)
        appid = data.pop("appid", None)
        if not isinstance(appid, str) or not appid:
            raise AdminError("appid is required")
        fans, groups = data.pop("fans", None) or [], data.pop("fan_groups", None) or []
        templates, industry = data.pop("templates", None) or [], data.pop("industry", None)
        account = Account(appid)
        try:
            account.configure(data)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        if industry is not None:
            account.industry = _industry_pair(industry)
        for raw in templates:
            self.add_template(account, raw)
        old = self.accounts.get(appid)
        if old is not None:  # a replaced account loses its tokens too
            for token in [t for t, r in self.tokens.items() if r.appid == appid]:
                del self.tokens[token]
        self.accounts[appid] = account
        self.add_fans(account, fans, groups)
        return account

    def update_account(self, account: Account, data: dict[str, Any]) -> None:
        data = dict(data)
        industry = data.pop("industry", None)
        templates = data.pop("templates", None)
        settings = account.settings()
        settings.update(data)
        try:
            account.configure(settings)
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        if industry is not None:
            account.industry = _industry_pair(industry)
        for raw in templates or []:
            self.add_template(account, raw)

    def add_template(self, account: Account, raw: dict[str, Any]) -> Template:
        """A pre-existing private template: either full (title + content) or from the library by short id."""
        if not isinstance(raw, dict):
            raise AdminError("templates: each template is an object")
        template_id = raw.get("template_id") or new_template_id()
        short_id = raw.get("template_id_short") or raw.get("short_id")
        industry_id = raw.get("industry_id")
        if short_id:
            entry, content, example = from_library(str(short_id), raw.get("keyword_name_list") or [])
            title = raw.get("title") or entry["title"]
            industry_id = industry_id or entry.get("industry")
        else:
            if not raw.get("content"):
                raise AdminError("templates: content (or template_id_short) is required")
            content, title, example = raw["content"], raw.get("title", ""), raw.get("example", "")
        first, second = industries().get(str(industry_id), ["", ""]) if industry_id else ("", "")
        template = Template(
            template_id=template_id,
            title=title,
            content=content,
            example=example,
            primary_industry=raw.get("primary_industry", first),
            deputy_industry=raw.get("deputy_industry", second),
            industry_id=str(industry_id) if industry_id else None,
            short_id=str(short_id) if short_id else None,
        )
        account.templates[template.template_id] = template
        return template

    # -- fans -------------------------------------------------------------------------------------------

    def add_fans(
        self,
        account: Account,
        fans: list[dict[str, Any]],
        groups: list[dict[str, Any]] | None = None,
        return_openids: bool = False,
    ) -> dict[str, Any]:
        before = len(account.fans)
        touched: list[str] = []
        tag_ids: dict[str, int] = {}
        now = self.clock.now()
        for raw in fans:
            if not isinstance(raw, dict):
                raise AdminError("fans: each fan is an object")
            openid = raw.get("openid")
            if not isinstance(openid, str) or not OPENID.fullmatch(openid):
                raise AdminError(f"fans: bad openid {openid!r} (1-64 characters of [A-Za-z0-9_-])")
            self._upsert_fan(account, openid, raw, tag_ids, now)
            touched.append(openid)
        for group in groups or []:
            touched.extend(self._add_group(account, group, tag_ids, now))
        created = len(account.fans) - before
        result: dict[str, Any] = {
            "appid": account.appid,
            "created": created,
            "updated": len(touched) - created,
            "total": len(account.fans),
        }
        if return_openids:
            result["openids"] = touched
        return result

    def _add_group(self, account: Account, group: dict[str, Any], tag_ids: dict[str, int], now: float) -> list[str]:
        if not isinstance(group, dict):
            raise AdminError("fan_groups: each group is an object")
        count, prefix = group.get("count"), group.get("prefix") or default_openid_prefix(account.appid)
        start = group.get("start", 0)
        if not isinstance(count, int) or count < 0:
            raise AdminError("fan_groups: count must be an integer >= 0")
        if not isinstance(prefix, str) or len(prefix) > 20 or not OPENID.fullmatch(prefix):
            raise AdminError("fan_groups: prefix must be 1-20 characters of [A-Za-z0-9_-]")
        fields = {k: v for k, v in group.items() if k not in ("count", "prefix", "start")}
        width = 28 - len(prefix)
        openids = [f"{prefix}{index:0{width}d}" for index in range(start, start + count)]
        for openid in openids:
            self._upsert_fan(account, openid, fields, tag_ids, now)
        return openids

    def _upsert_fan(
        self, account: Account, openid: str, raw: dict[str, Any], tag_ids: dict[str, int], now: float
    ) -> Fan:
        unknown = set(raw) - FAN_FIELDS
        if unknown:
            raise AdminError(f"fans: unknown fields {sorted(unknown)}")
        fan = account.fans.get(openid)
        if fan is None:
            fan = Fan(openid, subscribe_time=int(now))
            account.fans[openid] = fan
        for name in ("subscribed", "blacklisted", "refuses_messages", "template_failure"):
            if name in raw:
                setattr(fan, name, bool(raw[name]))
        if not fan.subscribed:
            fan.windows.clear()  # unfollowing closes every customer-service window
        for name in ("language", "remark", "subscribe_scene", "qr_scene_str", "unionid", "wxname"):
            if name in raw:
                setattr(fan, name, raw[name])
        if "qr_scene" in raw:
            fan.qr_scene = int(raw["qr_scene"])
        if "subscribe_time" in raw:
            fan.subscribe_time = int(parse_time(raw["subscribe_time"]))
        if "blocks_templates" in raw:
            value = raw["blocks_templates"]
            if value not in (True, False, "async", None):
                raise AdminError('fans: blocks_templates is true, false or "async"')
            fan.blocks_templates = value or False
        if "mass_received_this_month" in raw:
            fan.mass_month, fan.mass_count = self.clock.month_key(now), int(raw["mass_received_this_month"])
        if "tags" in raw:
            ids = []
            for name in raw["tags"] or []:
                if name not in tag_ids:
                    tag_ids[name] = account.ensure_tag(str(name)).id
                ids.append(tag_ids[name])
            account.set_fan_tags(fan, ids)
        interaction = raw.get("last_interaction")
        if interaction:
            if not isinstance(interaction, dict) or "kind" not in interaction:
                raise AdminError('fans: last_interaction is {"kind": ..., "at": ISO}')
            at = parse_time(interaction["at"]) if interaction.get("at") is not None else now
            self.interact(account, fan, interaction["kind"], at)
        return fan

    def interact(self, account: Account, fan: Fan, kind: str, at: float) -> dict[str, Any] | None:
        """Record a fan action: opens (replaces) the customer-service window of its class, if the account's
        rules give that class one (under the current rules a payment or a rights complaint opens nothing)."""
        if kind in KF_CLASSES:
            cls: str | None = kind
        elif kind in INTERACTION_CLASS:
            cls = INTERACTION_CLASS[kind]
        else:
            raise AdminError(f"unknown interaction kind {kind!r}")
        if kind == "unsubscribe":
            fan.windows.clear()
            fan.typing_until = 0.0
            return None
        if cls == "message":
            fan.last_message_at = max(fan.last_message_at, at)
        rule = account.windows.get(cls) if cls is not None else None
        if cls is None or rule is None:
            return None
        seconds, limit = rule
        fan.windows[cls] = [at, at + seconds, limit, 0]
        return {"class": cls, "expires_at": self.clock.iso(at + seconds), "limit": limit}

    # -- mass jobs --------------------------------------------------------------------------------------

    def schedule_finish(self, account: Account, job: MassJob) -> None:
        account.pending_jobs.append(job)
        if self.loop is not None:
            delay = max(0.0, job.finish_at - self.clock.now())
            self.loop.call_later(delay, self.finish_due_jobs)

    def finish_due_jobs(self) -> None:
        """Mark jobs whose time has come SEND_SUCCESS and push MASSSENDJOBFINISH (idempotent)."""
        from .api_mass import finish_job  # api_mass builds on this module, so it is imported late

        now = self.clock.now()
        for account in list(self.accounts.values()):
            if not account.pending_jobs:
                continue
            due = [j for j in account.pending_jobs if j.finish_at <= now]
            if due:
                account.pending_jobs = [j for j in account.pending_jobs if j.finish_at > now]
                for job in due:
                    finish_job(self, account, job)
            # The loop's timer runs on the monotonic clock and may fire a hair before the wall-clock finish
            # time: look again for what is still pending rather than leave it to the next admin call.
            if account.pending_jobs and self.loop is not None:
                earliest = min(j.finish_at for j in account.pending_jobs)
                self.loop.call_later(max(0.01, earliest - now), self.finish_due_jobs)


def new_template_id() -> str:
    return secrets.token_urlsafe(32)[:43]


def new_media_id() -> str:
    return secrets.token_urlsafe(48)[:64]


def _industry_pair(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        value = [value.get("industry_id1"), value.get("industry_id2")]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise AdminError('industry is ["id1", "id2"] (codes 1-41)')
    pair = (str(value[0]), str(value[1]))
    if any(code not in industries() for code in pair):
        raise AdminError("industry codes are 1-41")
    return pair
