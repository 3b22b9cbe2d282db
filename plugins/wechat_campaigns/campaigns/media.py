"""Uploading a material's files to WeChat once, and reusing what was uploaded.

Every upload is remembered per account in the store, keyed by the content's hash and what it is for:
a permanent image is uploaded once for all campaigns; temporary media (customer-service images, voice and
video) are uploaded again when their 3 days run out; images inside article bodies go through
media/uploadimg; mass news becomes a draft; mass video is converted with media/uploadvideo.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from ..domain.materials import MediaFile
from ..store.media import keep_upload, uploaded
from ..wechat.client import WeChatClient

TEMPORARY_LIFETIME = 3 * 86_400  # WeChat keeps temporary media for 3 days
TEMPORARY_MARGIN = 3_600  # re-upload an hour early rather than send an id that expires on the way


@dataclass(frozen=True)
class Stored:
    media_id: str | None
    url: str | None


class MediaLibrary:
    """WeChat media ids of one account's uploads."""

    def __init__(self, client: WeChatClient, engine: Engine, appid: str):
        self.client, self.engine, self.appid = client, engine, appid
        self.uploads = 0  # calls made (not reused) by this instance

    def permanent(self, kind: str, file: MediaFile) -> Stored:
        """Permanent material (add_material): mass media, news covers, customer-service card pictures."""

        def upload() -> Stored:
            with open(file.path, "rb") as handle:
                done = self.client.add_permanent_material(kind, file.name.rsplit("/", 1)[-1], handle)
            return Stored(done.media_id, done.url)

        return self._cached(file.sha256, f"permanent_{kind}", upload)

    def temporary(self, kind: str, file: MediaFile) -> str:
        """Temporary media (media/upload), valid 3 days: customer-service images, voice and video."""

        def upload() -> Stored:
            with open(file.path, "rb") as handle:
                done = self.client.upload_temporary_media(kind, file.name.rsplit("/", 1)[-1], handle)
            return Stored(done.media_id, None)

        return _present(self._cached(file.sha256, f"temporary_{kind}", upload, lifetime=TEMPORARY_LIFETIME).media_id)

    def article_image(self, file: MediaFile) -> str:
        def upload() -> Stored:
            with open(file.path, "rb") as handle:
                return Stored(None, self.client.upload_article_image(file.name.rsplit("/", 1)[-1], handle))

        return _present(self._cached(file.sha256, "article_image", upload).url)

    def draft(self, articles: list[Mapping[str, Any]]) -> str:
        digest = _hash(articles)
        return _present(self._cached(digest, "draft", lambda: Stored(self.client.add_draft(articles), None)).media_id)

    def mass_video(self, media_id: str, title: str, description: str) -> str:
        digest = _hash([media_id, title, description])

        def convert() -> Stored:
            return Stored(self.client.prepare_mass_video(media_id, title, description), None)

        return _present(self._cached(digest, "mass_video", convert).media_id)

    def _cached(
        self, content_hash: str, purpose: str, upload: Callable[[], Stored], lifetime: float | None = None
    ) -> Stored:
        now = time.time()
        row = uploaded(self.engine, self.appid, content_hash, purpose)
        if row and (row.expires_at is None or row.expires_at - TEMPORARY_MARGIN > now):
            return Stored(row.media_id, row.url)
        stored = upload()
        self.uploads += 1
        keep_upload(self.engine, self.appid, content_hash, purpose, stored, now, lifetime)
        return stored


class DryRunMedia:
    """Stands in for the library in a dry run: nothing is uploaded, the message shows what would be."""

    uploads = 0

    def permanent(self, kind: str, file: MediaFile) -> Stored:
        return Stored(f"(upload {file.name})", f"(upload {file.name})")

    def temporary(self, kind: str, file: MediaFile) -> str:
        return f"(upload {file.name})"

    def article_image(self, file: MediaFile) -> str:
        return f"(upload {file.name})"

    def draft(self, articles: list[Mapping[str, Any]]) -> str:
        return "(draft of " + ", ".join(a["title"] for a in articles) + ")"

    def mass_video(self, media_id: str, title: str, description: str) -> str:
        return f"(mass video {title})"


def _present(value: str | None) -> str:
    """The part of a Stored that its purpose always has: the media id, or an article image's URL."""
    assert value is not None
    return value


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
