"""Message bodies shared by mass, preview and customer-service sends: parsing and what the fan sees."""

from __future__ import annotations

from typing import Any

from .account import Account
from .errors import ApiError
from .model import Media

TEXT_MAX_BYTES = 2048  # sandbox assumption: WeChat documents no exact text limit


def section(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The ``{"<msgtype>": {...}}`` object of a message; 47001 when it is missing."""
    value = body.get(key)
    if not isinstance(value, dict):
        raise ApiError(47001, f"data format error: {key} object missing")
    return value


def text_content(value: Any) -> dict[str, Any]:
    if not isinstance(value, str) or not value:
        raise ApiError(44004)
    if len(value.encode()) > TEXT_MAX_BYTES:
        raise ApiError(45002)
    return {"content": value}


def media(account: Account, media_id: Any, types: tuple[str, ...], now: float) -> Media:
    """A usable media item of one of ``types``; 40007 if unknown, expired, foreign or of another type."""
    item = account.media.get(media_id) if isinstance(media_id, str) else None
    if item is None or item.type not in types or not item.usable(now):
        raise ApiError(40007)
    return item


def draft_articles(account: Account, media_id: Any) -> list[dict[str, Any]]:
    """The articles of a draft as a fan sees them in a chat (title, author, digest, cover, link)."""
    draft = account.drafts.get(media_id) if isinstance(media_id, str) else None
    if draft is None:
        raise ApiError(40007)
    keep = ("title", "author", "digest", "thumb_media_id", "content_source_url", "url")
    return [{k: a[k] for k in keep if a.get(k) is not None} for a in draft.articles]
