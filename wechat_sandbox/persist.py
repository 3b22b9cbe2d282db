"""Saving and loading the whole sandbox state as JSON (``--state FILE``, ``POST /sandbox/save``).

Inbox entries of one mass send share one content object in memory; the file keeps each content once and
refers to it by index, so a 200,000-fan mass send does not write 200,000 copies.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from .account import Account
from .model import ClientMsgRecord, Draft, Fan, MassJob, Media, Tag, Template, TokenRecord
from .sandbox import Sandbox

VERSION = 1
_FAN_DEFAULTS = {f.name: f.default for f in fields(Fan) if f.default is not MISSING}

COUNTERS = (
    "mass_minute",
    "to_all_month",
    "to_all_day",
    "mass_day",
    "clear_quota_month",
    "clear_api_quota_month",
    "stable_force_day",
)
SCALARS = (
    "next_tag_id",
    "industry_changed_month",
    "stable_token",
    "stable_issued_at",
    "classic_token",
    "stable_token_refreshes",
    "token_refreshes",
)


def _fan(fan: Fan) -> dict[str, Any]:
    data: dict[str, Any] = {"openid": fan.openid}
    for name, default in _FAN_DEFAULTS.items():
        value = getattr(fan, name)
        if name != "openid" and value != default:
            data[name] = value
    if fan.tags:
        data["tags"] = fan.tags
    if fan.windows:
        data["windows"] = fan.windows
    return data


def dump_account(account: Account) -> dict[str, Any]:
    contents: list[Any] = []
    index: dict[int, int] = {}

    def ref(content: Any) -> int:
        key = id(content)
        if key not in index:
            index[key] = len(contents)
            contents.append(content)
        return index[key]

    inbox = {o: [[k, t, ref(c), m, at] for k, t, c, m, at in box] for o, box in account.inbox.items()}
    return {
        "appid": account.appid,
        "settings": account.settings(),
        "industry": list(account.industry) if account.industry else None,
        **{name: getattr(account, name) for name in SCALARS},
        **{name: getattr(account, name) for name in COUNTERS},
        "daily": account.daily,
        "fans": [_fan(f) for f in account.fans.values()],
        "tags": [{"id": t.id, "name": t.name, "members": list(t.members)} for t in account.tags.values()],
        "templates": [asdict(t) for t in account.templates.values()],
        "media": [asdict(m) for m in account.media.values()],
        "drafts": [asdict(d) for d in account.drafts.values()],
        "jobs": [asdict(j) for j in account.jobs.values()],
        "pending_jobs": [j.msg_id for j in account.pending_jobs],
        "clientmsgids": {k: asdict(v) for k, v in account.clientmsgids.items()},
        "template_dedup": [[o, c, m, at] for (o, c), (m, at) in account.template_dedup.items()],
        "contents": contents,
        "inbox": inbox,
        "calls": account.calls,
        "errors": account.errors,
        "errors_by_path": account.errors_by_path,
    }


def load_account(data: dict[str, Any]) -> Account:
    account = Account(data["appid"])
    account.configure(data["settings"])
    account.industry = tuple(data["industry"]) if data.get("industry") else None
    for name in (*SCALARS, *COUNTERS):
        if name in data:  # a file saved before a counter existed starts it afresh
            setattr(account, name, data[name])
    account.daily = data["daily"]
    account.fans = {f["openid"]: Fan(**f) for f in data["fans"]}
    account.tags = {t["id"]: Tag(t["id"], t["name"], dict.fromkeys(t["members"])) for t in data["tags"]}
    account.templates = {t["template_id"]: Template(**t) for t in data["templates"]}
    account.media = {m["media_id"]: Media(**m) for m in data["media"]}
    account.drafts = {d["media_id"]: Draft(**d) for d in data["drafts"]}
    account.jobs = {j["msg_id"]: MassJob(**j) for j in data["jobs"]}
    account.pending_jobs = [account.jobs[i] for i in data["pending_jobs"]]
    account.clientmsgids = {k: ClientMsgRecord(**v) for k, v in data["clientmsgids"].items()}
    account.template_dedup = {(o, c): (m, at) for o, c, m, at in data["template_dedup"]}
    contents = data["contents"]
    account.inbox = {o: [(k, t, contents[c], m, at) for k, t, c, m, at in box] for o, box in data["inbox"].items()}
    account.calls = Counter(data["calls"])
    account.errors = Counter(data["errors"])
    account.errors_by_path = {p: Counter(c) for p, c in data["errors_by_path"].items()}
    return account


def dump(sb: Sandbox) -> dict[str, Any]:
    return {
        "version": VERSION,
        "clock_offset": sb.clock.offset,
        "ids": sb.ids,
        "tokens": [asdict(t) for t in sb.tokens.values()],
        "accounts": [dump_account(a) for a in sb.accounts.values()],
        "callbacks": sb.pusher.log,
        "unattributed_calls": sb.unattributed_calls,
        "unattributed_errors": sb.unattributed_errors,
    }


def load(sb: Sandbox, data: dict[str, Any]) -> None:
    if data.get("version") != VERSION:
        raise ValueError(f"state file version {data.get('version')!r}, expected {VERSION}")
    sb.reset()
    sb.clock.offset = float(data["clock_offset"])
    sb.ids.update(data["ids"])
    sb.tokens = {t["token"]: TokenRecord(**t) for t in data["tokens"]}
    sb.accounts = {a["appid"]: load_account(a) for a in data["accounts"]}
    sb.pusher.log = data.get("callbacks", [])
    sb.pusher._next_id = max((e["id"] for e in sb.pusher.log), default=0) + 1
    sb.unattributed_calls = Counter(data.get("unattributed_calls", {}))
    sb.unattributed_errors = Counter(data.get("unattributed_errors", {}))


def save_file(sb: Sandbox, path: str | os.PathLike[str]) -> None:
    """Write atomically, so a crash mid-save leaves the previous file intact."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(dump(sb), handle, ensure_ascii=False, separators=(",", ":"))
    temporary.replace(target)


def load_file(sb: Sandbox, path: str | os.PathLike[str]) -> None:
    with Path(path).open(encoding="utf-8") as handle:
        load(sb, json.load(handle))
