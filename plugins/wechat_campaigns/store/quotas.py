"""Our own count of each account's daily API calls, per Beijing day (WeChat's 45009 is the backstop)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..domain.clock import shanghai_day
from .db import insert_ignoring_duplicates
from .schema import quota_usage as q


def used(engine: Engine, appid: str, api: str, now: datetime) -> int:
    with engine.connect() as connection:
        value = connection.scalar(
            sa.select(q.c.used).where(q.c.appid == appid, q.c.api == api, q.c.day == shanghai_day(now))
        )
    return value or 0


def room(engine: Engine, appid: str, api: str, limit: int | None, now: datetime) -> int | None:
    """Calls left today under ``limit`` by our count; None when there is no limit."""
    return None if limit is None else max(0, limit - used(engine, appid, api, now))


def add(connection: sa.Connection, appid: str, api: str, now: datetime, calls: int) -> None:
    """Count ``calls`` more, inside the caller's transaction (the same one that records their outcomes)."""
    if calls <= 0:
        return
    day = shanghai_day(now)
    insert_ignoring_duplicates(connection, q, [{"appid": appid, "api": api, "day": day, "used": 0}])
    connection.execute(
        sa.update(q).where(q.c.appid == appid, q.c.api == api, q.c.day == day).values(used=q.c.used + calls)
    )


def use_up(engine: Engine, appid: str, api: str, now: datetime, limit: int) -> None:
    """WeChat said 45009 before our count reached the limit (other systems share the quota): believe it."""
    left = room(engine, appid, api, limit, now) or 0
    with engine.begin() as connection:
        add(connection, appid, api, now, left)
