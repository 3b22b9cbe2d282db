"""Syncing an account's audience from WeChat into the store: tags, followers, their details, tag members
and private templates.

A sync goes through phases and writes its cursor after every page, so when a daily quota runs out
(45009, or our own count reaching the Connection's quota) it stops with ``QuotaWait`` and the next attempt —
the same task after Beijing midnight, or tomorrow's run — resumes where it stopped. Re-running is safe:
fans are updated in place, and fans the finished follower listing did not contain are marked unsubscribed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from ..domain import paths
from ..domain.account import AccountSettings
from ..domain.clock import next_midnight
from ..domain.errors import Action, WeChatError
from ..store import quotas, sync
from ..store.fans import replace_tags, upsert_fans
from ..store.templates import replace_templates
from ..wechat.api.fans import MAX_BATCHGET_OPENIDS
from ..wechat.client import WeChatClient
from .run import QuotaWait, utcnow

PHASES = ("tags", "followers", "details", "tag_members", "templates", "finish", "done")
USER_GET, BATCHGET, TAG_GET = paths.USER_GET, paths.USER_INFO_BATCHGET, paths.USER_TAG_GET


@dataclass
class SyncState:
    sync_id: str
    phase: str = "tags"
    cursor: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


@dataclass
class AudienceSync:
    appid: str
    client: WeChatClient
    engine: Engine
    settings: AccountSettings
    clock: Callable[[], datetime] = utcnow

    def run(self, sync_id: str) -> dict[str, int]:
        """Sync (or resume an unfinished sync); returns what it found and changed."""
        state = self._load() or SyncState(sync_id)
        self._save(state, started=True)
        steps = {
            "tags": self._tags,
            "followers": self._followers,
            "details": self._details,
            "tag_members": self._tag_members,
            "templates": self._templates,
            "finish": self._finish,
        }
        while state.phase != "done":
            steps[state.phase](state)
        return state.counts

    # -- phases -------------------------------------------------------------------------------------------

    def _tags(self, state: SyncState) -> None:
        listed = self._call(lambda: self.client.list_tags())
        replace_tags(self.engine, self.appid, {tag.name: tag.id for tag in listed})
        state.counts["tags"] = len(listed)
        self._next(state, "followers")

    def _followers(self, state: SyncState) -> None:
        page = self._call(lambda: self.client.list_followers_page(state.cursor.get("next_openid", "")), USER_GET)
        if page.openids:
            rows = [{"openid": o, "subscribed": True, "seen_in_sync": state.sync_id} for o in page.openids]
            upsert_fans(self.engine, self.appid, rows)
            state.add("followers", len(page.openids))
        if not page.openids or not page.next_openid:
            self._next(state, "details")
            return
        state.cursor = {"next_openid": page.next_openid}
        self._save(state)

    def _details(self, state: SyncState) -> None:
        after = state.cursor.get("after", "")
        openids = sync.listed_fans_after(self.engine, self.appid, state.sync_id, after, MAX_BATCHGET_OPENIDS)
        if not openids:
            self._next(state, "tag_members")
            return
        infos = self._call(lambda: self.client.get_fans(openids), BATCHGET)
        rows = [
            {
                "openid": info.openid,
                "subscribed": info.subscribed,
                "language": info.language,
                "remark": info.remark,
                "unionid": info.unionid,
                "subscribe_time": info.subscribe_time,
            }
            for info in infos
        ]
        upsert_fans(self.engine, self.appid, rows)
        state.add("details", len(rows))
        state.cursor = {"after": openids[-1]}
        self._save(state)

    def _tag_members(self, state: SyncState) -> None:
        tag_ids = sync.tag_ids_from(self.engine, self.appid, state.cursor.get("tag_id", 0))
        if not tag_ids:
            self._next(state, "templates")
            return
        tag_id, next_openid = tag_ids[0], state.cursor.get("next_openid", "")
        if state.cursor.get("tag_id") != tag_id:
            next_openid = ""  # a new tag: its old member list is replaced by what WeChat lists now
            sync.clear_tag_members(self.engine, self.appid, tag_id)
        page = self._call(lambda: self.client.list_tag_fans_page(tag_id, next_openid), TAG_GET)
        if page.openids:
            sync.add_tag_members(self.engine, self.appid, tag_id, page.openids)
            state.add("tag_members", len(page.openids))
        if page.openids and page.next_openid:
            state.cursor = {"tag_id": tag_id, "next_openid": page.next_openid}
        else:
            sync.count_tag_members(self.engine, self.appid, tag_id)  # the tag's members are all listed now
            state.cursor = {"tag_id": tag_id + 1}
        self._save(state)

    def _templates(self, state: SyncState) -> None:
        if self.settings.template_permission_problem() is None:
            listed = self._call(lambda: self.client.list_templates())
            replace_templates(self.engine, self.appid, listed)
            state.counts["templates"] = len(listed)
        self._next(state, "finish")

    def _finish(self, state: SyncState) -> None:
        """Whoever the complete follower listing did not contain does not follow the account any more."""
        state.counts["unsubscribed"] = sync.unsubscribe_unlisted(self.engine, self.appid, state.sync_id)
        self._next(state, "done")

    # -- plumbing -----------------------------------------------------------------------------------------

    def _call(self, call: Callable[[], Any], api: str | None = None) -> Any:
        """One API call within the daily quota (ours, then WeChat's 45009)."""
        now = self.clock()
        if api and quotas.room(self.engine, self.appid, api, self.settings.daily_quota(api), now) == 0:
            raise QuotaWait(next_midnight(now))
        try:
            result = call()
        except WeChatError as exc:
            if exc.action is Action.WAIT_QUOTA:
                raise QuotaWait(next_midnight(now)) from exc
            raise
        if api:
            with self.engine.begin() as connection:
                quotas.add(connection, self.appid, api, now, 1)
        return result

    def _next(self, state: SyncState, phase: str) -> None:
        state.phase, state.cursor = phase, {}
        self._save(state, finished=phase == "done")

    def _load(self) -> SyncState | None:
        row = sync.state_of(self.engine, self.appid)
        if row is None or row["phase"] == "done":
            return None
        return SyncState(row["sync_id"], row["phase"], dict(row["cursor"] or {}), dict(row["counts"] or {}))

    def _save(self, state: SyncState, started: bool = False, finished: bool = False) -> None:
        now = time.time()
        row = {
            "appid": self.appid,
            "sync_id": state.sync_id,
            "phase": state.phase,
            "cursor": state.cursor,
            "counts": state.counts,
            "updated_at": now,
            "finished_at": now if finished else None,
        }
        if started and not state.counts:
            row["started_at"] = now
        sync.save_state(self.engine, row)


def sync_status(engine: Engine, appid: str) -> dict[str, Any] | None:
    return sync.state_of(engine, appid)
