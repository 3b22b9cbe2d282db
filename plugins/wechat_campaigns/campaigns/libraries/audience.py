"""The account's audience as a marketer picks it: its tags with their fan counts, and when the store last
learnt them from WeChat (the ``wechat_sync_audience`` DAG fills both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from ...store import fans, sync


@dataclass(frozen=True)
class AudienceTag:
    tag_id: int
    name: str
    fan_count: int | None  # None: no sync has listed the tag's members yet
    synced_at: float | None


@dataclass(frozen=True)
class LastSync:
    """Where the account's audience sync stands: ``finished_at`` of the last complete one, or the phase a
    running (or quota-stopped) sync has reached."""

    finished_at: float | None
    started_at: float | None
    phase: str | None
    counts: dict[str, Any]

    @property
    def running(self) -> bool:
        return self.phase not in (None, "done")


def audience_tags(
    engine: Engine, appid: str, offset: int = 0, limit: int = 50, search: str | None = None
) -> list[AudienceTag]:
    """A page of the account's tags, biggest first."""
    rows = fans.tags_page(engine, appid, offset=offset, limit=limit, search=search)
    return [AudienceTag(row["tag_id"], row["name"], row["fan_count"], row["synced_at"]) for row in rows]


def last_sync(engine: Engine, appid: str) -> LastSync | None:
    """None when the account was never synced."""
    row = sync.state_of(engine, appid)
    if row is None:
        return None
    return LastSync(row.get("finished_at"), row.get("started_at"), row.get("phase"), dict(row.get("counts") or {}))
