"""The account's private templates as WeChat last listed them, and which of them we added."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .db import upsert
from .schema import account_state, templates

TEMPLATE_INDUSTRIES = "template_industries"


def replace_templates(engine: Engine, appid: str, listed: Iterable[Any]) -> None:
    """``listed``: objects with template_id, title, content, example (``WeChatClient.list_templates``).
    Templates WeChat no longer lists are forgotten; what we know of the others (short id) is kept."""
    now, listed = time.time(), list(listed)
    rows = [
        {
            "appid": appid,
            "template_id": t.template_id,
            "title": t.title,
            "content": t.content,
            "example": t.example,
            "synced_at": now,
        }
        for t in listed
    ]
    with engine.begin() as connection:
        current = [row["template_id"] for row in rows]
        connection.execute(
            sa.delete(templates).where(templates.c.appid == appid, templates.c.template_id.not_in(current))
        )
        upsert(connection, templates, rows)
        # Each template's industry as WeChat lists it, kept beside the list (the templates table has no column).
        industries = {
            t.template_id: [getattr(t, "primary_industry", ""), getattr(t, "deputy_industry", "")] for t in listed
        }
        value = {"key": TEMPLATE_INDUSTRIES, "value": industries, "updated_at": now}
        upsert(connection, account_state, [{"appid": appid, **value}])


def template_industries(engine: Engine, appid: str) -> dict[str, list[str]]:
    """template id -> [first class, second class] of its industry, as the last listing said."""
    return get_state(engine, appid, TEMPLATE_INDUSTRIES) or {}


def remember_added(engine: Engine, appid: str, template_id: str, short_id: str, keywords: Sequence[str]) -> None:
    with engine.begin() as connection:
        upsert(
            connection,
            templates,
            [{"appid": appid, "template_id": template_id, "short_id": short_id, "keywords": list(keywords)}],
        )


def stored_templates(engine: Engine, appid: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(templates).where(templates.c.appid == appid).order_by(templates.c.template_id)
        return [dict(row) for row in connection.execute(query).mappings()]


def get_state(engine: Engine, appid: str, key: str) -> Any:
    with engine.connect() as connection:
        return connection.scalar(
            sa.select(account_state.c.value).where(account_state.c.appid == appid, account_state.c.key == key)
        )


def set_state(engine: Engine, appid: str, key: str, value: Any) -> None:
    with engine.begin() as connection:
        upsert(connection, account_state, [{"appid": appid, "key": key, "value": value, "updated_at": time.time()}])
