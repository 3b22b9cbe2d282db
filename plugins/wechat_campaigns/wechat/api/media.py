"""Materials: temporary media, permanent materials, article images, drafts, mass videos."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from ...domain import paths
from ._family import ApiFamily


@dataclass(frozen=True)
class UploadedMedia:
    media_id: str
    type: str = ""
    created_at: int | None = None
    url: str | None = None


class MediaApi(ApiFamily):
    def upload_temporary_media(self, kind: str, filename: str, content: BinaryIO | bytes) -> UploadedMedia:
        answer = self.call("POST", paths.MEDIA_UPLOAD, params={"type": kind}, files={"media": (filename, content)})
        media_id = answer.get("media_id") or answer["thumb_media_id"]  # a thumb's answer names it thumb_media_id
        return UploadedMedia(media_id, answer.get("type", kind), answer.get("created_at"))

    def add_permanent_material(
        self,
        kind: str,
        filename: str,
        content: BinaryIO | bytes,
        *,
        title: str | None = None,
        introduction: str | None = None,
    ) -> UploadedMedia:
        form = None
        if kind == "video":
            description = {"title": title or filename, "introduction": introduction or ""}
            form = {"description": json.dumps(description, ensure_ascii=False)}
        answer = self.call(
            "POST",
            paths.MATERIAL_ADD_MATERIAL,
            params={"type": kind},
            files={"media": (filename, content)},
            form=form,
        )
        return UploadedMedia(answer["media_id"], kind, url=answer.get("url"))

    def upload_article_image(self, filename: str, content: BinaryIO | bytes) -> str:
        """An image for use inside an article's HTML body; returns its URL."""
        return self.call("POST", paths.MEDIA_UPLOADIMG, files={"media": (filename, content)})["url"]

    def add_draft(self, articles: Sequence[Mapping[str, Any]]) -> str:
        return self.call("POST", paths.DRAFT_ADD, body={"articles": list(articles)})["media_id"]

    def prepare_mass_video(self, media_id: str, title: str, description: str = "") -> str:
        body = {"media_id": media_id, "title": title, "description": description}
        return self.call("POST", paths.MEDIA_UPLOADVIDEO, body=body)["media_id"]
