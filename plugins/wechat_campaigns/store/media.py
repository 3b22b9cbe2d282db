"""What each account has uploaded to WeChat, by the content's hash and what it is for (``campaigns.media``
decides when to upload again)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .db import upsert
from .schema import media


def uploaded(engine: Engine, appid: str, content_hash: str, purpose: str) -> Any:
    """The upload's ``media_id``, ``url`` and ``expires_at``, or None if it was never uploaded."""
    key = (media.c.appid == appid) & (media.c.content_hash == content_hash) & (media.c.purpose == purpose)
    with engine.connect() as connection:
        return connection.execute(sa.select(media.c.media_id, media.c.url, media.c.expires_at).where(key)).first()


def forget_media_id(engine: Engine, appid: str, media_id: str) -> int:
    """WeChat deleted what ``media_id`` names (a draft, once sent to all followers): the next send uploads anew."""
    with engine.begin() as connection:
        gone = sa.delete(media).where(media.c.appid == appid, media.c.media_id == media_id)
        return connection.execute(gone).rowcount


def keep_upload(engine: Engine, appid: str, content_hash: str, purpose: str, stored: Any, now: float, lifetime=None):
    """Remember an upload (``stored``: its ``media_id`` and ``url``); temporary media expire after ``lifetime``."""
    row = {
        "appid": appid,
        "content_hash": content_hash,
        "purpose": purpose,
        "media_id": stored.media_id,
        "url": stored.url,
        "created_at": now,
        "expires_at": now + lifetime if lifetime else None,
    }
    with engine.begin() as connection:
        upsert(connection, media, [row])


def uploads_of(engine: Engine, appid: str, content_hashes: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """What the account uploaded of each content hash, for every purpose (``purpose``, ``media_id``, ``url``,
    ``created_at``, ``expires_at``), oldest first."""
    wanted = sorted(set(content_hashes))
    found: dict[str, list[dict[str, Any]]] = {}
    if not wanted:
        return found
    query = (
        sa.select(media.c.content_hash, media.c.purpose, media.c.media_id, media.c.url, media.c.created_at)
        .add_columns(media.c.expires_at)
        .where(media.c.appid == appid, media.c.content_hash.in_(wanted))
        .order_by(media.c.created_at)
    )
    with engine.connect() as connection:
        for row in connection.execute(query).mappings():
            found.setdefault(row["content_hash"], []).append(dict(row))
    return found
