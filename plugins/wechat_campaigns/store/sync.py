"""What the audience sync (``campaigns.audience_sync``) keeps: where it stands, and the fans and tag members it
has listed so far. It resumes from here after a quota wait or a killed worker."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .db import upsert
from .schema import fan_tags, fans, sync_state, tags


def state_of(engine: Engine, appid: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(sync_state).where(sync_state.c.appid == appid)).mappings().first()
    return dict(row) if row else None


def save_state(engine: Engine, row: dict[str, Any]) -> None:
    with engine.begin() as connection:
        upsert(connection, sync_state, [row])


def listed_fans_after(engine: Engine, appid: str, sync_id: str, after: str, limit: int) -> list[str]:
    """The next ``limit`` openids (in order, after ``after``) that this sync's follower listing contained."""
    with engine.connect() as connection:
        return list(
            connection.scalars(
                sa.select(fans.c.openid)
                .where(fans.c.appid == appid, fans.c.seen_in_sync == sync_id, fans.c.openid > after)
                .order_by(fans.c.openid)
                .limit(limit)
            )
        )


def tag_ids_from(engine: Engine, appid: str, first: int) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.scalars(
                sa.select(tags.c.tag_id).where(tags.c.appid == appid, tags.c.tag_id >= first).order_by(tags.c.tag_id)
            )
        )


def clear_tag_members(engine: Engine, appid: str, tag_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(fan_tags).where(fan_tags.c.appid == appid, fan_tags.c.tag_id == tag_id))


def add_tag_members(engine: Engine, appid: str, tag_id: int, openids: Sequence[str]) -> None:
    with engine.begin() as connection:
        upsert(connection, fan_tags, [{"appid": appid, "tag_id": tag_id, "openid": o} for o in openids])


def count_tag_members(engine: Engine, appid: str, tag_id: int) -> int:
    """Set the tag's ``fan_count`` to the members this sync listed for it (WeChat lists followers only), so
    that pickers show a tag's size without counting its members on every page view."""
    with engine.begin() as connection:
        members = sa.select(sa.func.count()).where(fan_tags.c.appid == appid, fan_tags.c.tag_id == tag_id)
        count = connection.scalar(members) or 0
        connection.execute(
            sa.update(tags).where(tags.c.appid == appid, tags.c.tag_id == tag_id).values(fan_count=count)
        )
    return count


def unsubscribe_unlisted(engine: Engine, appid: str, sync_id: str) -> int:
    """Mark as not following whoever this sync's complete follower listing did not contain; how many."""
    with engine.begin() as connection:
        return connection.execute(
            sa.update(fans)
            .where(
                fans.c.appid == appid,
                sa.or_(fans.c.seen_in_sync.is_(None), fans.c.seen_in_sync != sync_id),
                sa.or_(fans.c.subscribed.is_(None), fans.c.subscribed.is_(True)),
            )
            .values(subscribed=False, updated_at=time.time())
        ).rowcount
