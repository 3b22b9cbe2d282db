"""Media and drafts: temporary and permanent uploads, article images, drafts, mass videos.

Only the size, sha256, filename and type of an upload are kept, never its bytes. Formats are checked
loosely from the file extension, or from the content type when the name has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .content import media
from .errors import ApiError
from .model import Draft, Media
from .routing import Call, route
from .sandbox import new_media_id

MB = 1024 * 1024


@dataclass(slots=True)
class Upload:
    filename: str
    content_type: str
    size: int
    sha256: str

    @property
    def extension(self) -> str:
        if "." in self.filename:
            return self.filename.rsplit(".", 1)[1].lower()
        return self.content_type.split("/")[-1].split(";")[0].strip().lower()


# type -> (max bytes, allowed extensions, errcode when too big)
TEMPORARY = {
    "image": (10 * MB, {"png", "jpeg", "jpg", "gif"}, 40009),
    "voice": (2 * MB, {"amr", "mp3", "mpeg"}, 40010),
    "video": (10 * MB, {"mp4"}, 40011),
    "thumb": (64 * 1024, {"jpg", "jpeg"}, 40012),
}
PERMANENT = {
    "image": (10 * MB, {"bmp", "png", "jpeg", "jpg", "gif"}, 40009),
    "voice": (2 * MB, {"mp3", "mpeg", "wma", "wav", "amr"}, 40010),
    "video": (10 * MB, {"mp4"}, 40011),
    "thumb": (64 * 1024, {"jpg", "jpeg"}, 40012),
}
ARTICLE_IMAGE = (MB - 1, {"jpg", "jpeg", "png"}, 40009)

TITLE_MAX, AUTHOR_MAX, DIGEST_MAX, CONTENT_MAX = 32, 16, 128, 20_000
MAX_ARTICLES = 8


def _upload(call: Call, limits: tuple[int, set[str], int]) -> Upload:
    upload = call.form.get("media")
    if not isinstance(upload, Upload):
        raise ApiError(41005)
    max_bytes, extensions, size_error = limits
    if upload.extension not in extensions:
        raise ApiError(40005)
    if upload.size == 0 or upload.size > max_bytes:
        raise ApiError(size_error)
    return upload


def _type(call: Call, table: dict[str, Any]) -> str:
    kind = call.query.get("type")
    if kind not in table:
        raise ApiError(40004)
    return kind


def _store(call: Call, kind: str, upload: Upload, permanent: bool, **extra: Any) -> Media:
    item = Media(
        media_id=new_media_id(),
        type=kind,
        permanent=permanent,
        filename=upload.filename,
        size=upload.size,
        sha256=upload.sha256,
        created_at=call.now,
        **extra,
    )
    call.acc.media[item.media_id] = item
    return item


def upload_temporary(call: Call) -> dict[str, Any]:
    kind = _type(call, TEMPORARY)
    item = _store(call, kind, _upload(call, TEMPORARY[kind]), permanent=False)
    key = "thumb_media_id" if kind == "thumb" else "media_id"
    return {"type": kind, key: item.media_id, "created_at": int(call.now)}


def add_material(call: Call) -> dict[str, Any]:
    kind = _type(call, PERMANENT)
    upload = _upload(call, PERMANENT[kind])
    extra: dict[str, Any] = {}
    if kind == "video":
        try:
            description = json.loads(call.form.get("description") or "")
        except (TypeError, ValueError) as exc:
            raise ApiError(47001, "data format error: description (JSON with title, introduction) missing") from exc
        if not isinstance(description, dict) or not description.get("title"):
            raise ApiError(47001, "data format error: description.title missing")
        extra = {"title": description["title"], "description": description.get("introduction", "")}
    media_id = new_media_id()
    if kind == "image":
        extra["url"] = f"http://mmbiz.qpic.cn/sandbox/{media_id[:32]}/0?wx_fmt={upload.extension}"
    item = _store(call, kind, upload, permanent=True, **extra)
    answer = {"media_id": item.media_id}
    if item.url:
        answer["url"] = item.url
    return answer


def upload_article_image(call: Call) -> dict[str, Any]:
    upload = _upload(call, ARTICLE_IMAGE)
    return {"url": f"http://mmbiz.qpic.cn/sandbox/{upload.sha256[:32]}/0?wx_fmt={upload.extension}"}


def _article(call: Call, index: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ApiError(47001, f"data format error: articles[{index}] is not an object")
    article_type = raw.get("article_type", "news")
    title, content = raw.get("title"), raw.get("content")
    if not isinstance(title, str) or not title:
        raise ApiError(47001, f"data format error: articles[{index}].title missing")
    if len(title) > TITLE_MAX:
        raise ApiError(45003)
    if len(str(raw.get("author") or "")) > AUTHOR_MAX:
        raise ApiError(45110)
    if len(str(raw.get("digest") or "")) > DIGEST_MAX:
        raise ApiError(45004)
    if not isinstance(content, str) or not content:
        raise ApiError(47001, f"data format error: articles[{index}].content missing")
    if len(content) >= CONTENT_MAX or len(content.encode()) >= MB:
        raise ApiError(45002)
    if article_type == "news":
        thumb = media(call.acc, raw.get("thumb_media_id"), ("image", "thumb"), call.now)
        if not thumb.permanent:
            raise ApiError(40007)  # a draft cover must be permanent material
    return dict(raw, article_type=article_type)


def add_draft(call: Call) -> dict[str, Any]:
    articles = call.body.get("articles")
    if not isinstance(articles, list) or not articles:
        raise ApiError(44003)
    if len(articles) > MAX_ARTICLES:
        raise ApiError(45008)
    draft = Draft(new_media_id(), [_article(call, i, a) for i, a in enumerate(articles)], call.now)
    call.acc.drafts[draft.media_id] = draft
    return {"media_id": draft.media_id}


def upload_video(call: Call) -> dict[str, Any]:
    """Turn an uploaded video into a media_id that mass ``mpvideo`` accepts."""
    body = call.body
    source = media(call.acc, body.get("media_id"), ("video",), call.now)
    item = Media(
        media_id=new_media_id(),
        type="mpvideo",
        permanent=True,
        filename=source.filename,
        size=source.size,
        sha256=source.sha256,
        created_at=call.now,
        title=body.get("title") or source.title,
        description=body.get("description") or source.description,
        source_media_id=source.media_id,
    )
    call.acc.media[item.media_id] = item
    return {"type": "video", "media_id": item.media_id, "created_at": int(call.now)}


ROUTES = {
    "/cgi-bin/media/upload": route(upload_temporary, body="multipart"),
    "/cgi-bin/material/add_material": route(add_material, body="multipart"),
    "/cgi-bin/media/uploadimg": route(upload_article_image, body="multipart"),
    "/cgi-bin/draft/add": route(add_draft),
    "/cgi-bin/media/uploadvideo": route(upload_video),
}
