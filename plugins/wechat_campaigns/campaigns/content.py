"""What a run sends: the material (mass, customer service) or the template's fields, compiled once.

``load_content`` reads and checks the material (validate step). ``build_message`` uploads what it needs and
returns the request part WeChat wants (plan step, after the wait: temporary media must not expire before
the send); it is kept on the run's history row, and ``Content`` renders it per fan at send time (string
values of customer-service messages may use the fan's attributes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..domain.materials import (
    TEXT_MAX_BYTES,
    ImageMaterial,
    InvalidMaterial,
    Material,
    NewsMaterial,
    TextMaterial,
    VideoMaterial,
    VoiceMaterial,
    check_for_campaign,
    inline_text,
    news_from_form,
)
from ..domain.render import CompiledText, RenderError, TooLong, compile_text, render_fields
from ..domain.spec import CampaignSpec, FieldProblem, InvalidCampaign, MessageKind
from ..library import library_media, load_material
from .media import DryRunMedia, MediaLibrary


def load_content(spec: CampaignSpec) -> Material | None:
    """The run's material, checked for its kind of campaign; None for template campaigns."""
    if spec.kind is MessageKind.TEMPLATE:
        return None
    field_name = "material" if spec.material else "news" if spec.news else "text"
    try:
        if spec.material:
            material = load_material(spec.material)
        elif spec.news:
            material = news_from_form(spec.news, library_media("news.cover", str(spec.news.get("cover") or "")))
        else:
            material = inline_text(spec.text or "")
        check_for_campaign(material, spec.kind.value)
    except InvalidMaterial as exc:
        raise InvalidCampaign([FieldProblem(field_name, str(exc))]) from exc
    return material


def build_message(material: Material, kind: MessageKind, media: MediaLibrary | DryRunMedia) -> dict[str, Any]:
    """The ``{"msgtype": ..., <msgtype>: {...}}`` part of a mass or customer-service request."""
    mass = kind is MessageKind.MASS
    if isinstance(material, TextMaterial):
        return {"msgtype": "text", "text": {"content": material.content.source}}
    if isinstance(material, ImageMaterial | VoiceMaterial):
        file = material.image if isinstance(material, ImageMaterial) else material.voice
        media_id = media.permanent(material.kind, file).media_id if mass else media.temporary(material.kind, file)
        return {"msgtype": material.kind, material.kind: {"media_id": media_id}}
    if isinstance(material, VideoMaterial):
        return _video(material, mass, media)
    return _news(material, mass, media)


def _video(material: VideoMaterial, mass: bool, media) -> dict[str, Any]:
    if mass:
        uploaded = media.permanent("video", material.video).media_id
        converted = media.mass_video(uploaded, material.title, material.description)
        return {"msgtype": "mpvideo", "mpvideo": {"media_id": converted}}
    video = {"media_id": media.temporary("video", material.video), "title": material.title}
    video["description"] = material.description
    if material.thumb:
        video["thumb_media_id"] = media.temporary("thumb", material.thumb)
    return {"msgtype": "video", "video": video}


def _news(material: NewsMaterial, mass: bool, media) -> dict[str, Any]:
    if not mass:  # a customer-service news card: one article, a link, a picture
        article = material.articles[0]
        card = {
            "title": article.title.source,
            "description": article.digest.source if article.digest else "",
            "url": article.source_url,
            "picurl": media.permanent("image", article.cover).url if article.cover else "",
        }
        return {"msgtype": "news", "news": {"articles": [card]}}
    articles = []
    for article in material.articles:
        body = article.body.render({})
        for image in article.images:  # local files in the body become WeChat-hosted images
            body = _replace_src(body, image.name, media.article_image(image))
        draft = {
            "article_type": "news",
            "title": article.title.source,
            "author": article.author,
            "content": body,
            "content_source_url": article.source_url,
            "thumb_media_id": media.permanent("image", article.cover).media_id,
            "need_open_comment": int(article.open_comment),
            "only_fans_can_comment": int(article.fans_only_comment),
        }
        if len(material.articles) == 1 and article.digest:
            draft["digest"] = article.digest.source  # WeChat shows a digest for single-article news only
        articles.append(draft)
    return {"msgtype": "mpnews", "mpnews": {"media_id": media.draft(articles)}}


def _replace_src(html: str, name: str, url: str) -> str:
    pattern = re.compile(r"""(src\s*=\s*["'])""" + re.escape(name) + r"""(["'])""")
    return pattern.sub(lambda match: match.group(1) + url + match.group(2), html)


@dataclass(frozen=True)
class Content:
    kind: MessageKind
    message: Mapping[str, Any] | None = None  # mass / customer service: the built request part
    template_id: str | None = None
    fields: Mapping[str, CompiledText] = field(default_factory=dict)
    url: str | None = None

    @classmethod
    def for_run(cls, spec: CampaignSpec, message: Mapping[str, Any] | None) -> Content:
        if spec.kind is MessageKind.TEMPLATE:
            fields = {name: compile_text(value) for name, value in spec.template_data.items()}
            return cls(spec.kind, template_id=spec.template_id, fields=fields, url=spec.url)
        return cls(spec.kind, message=message)

    @property
    def variables(self) -> frozenset[str]:
        """The fan attributes the message uses."""
        if self.message is not None:
            texts = [compile_text(text) for text in _strings(self.message)]
        else:
            texts = list(self.fields.values())
        return frozenset().union(*(text.variables for text in texts))

    def for_fan(self, fan: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The message with every string rendered for ``fan`` (Jinja2, sandboxed, strict, bounded); an error
        names the part of the message (``text.content``) and a text WeChat would refuse as too long is
        ``TooLong``, not a call that fails with 45002."""
        assert self.message is not None
        message = _render(self.message, fan or {}, "")
        text = message.get("text", {}).get("content") if message.get("msgtype") == "text" else None
        if text is not None and len(text.encode()) > TEXT_MAX_BYTES:
            raise TooLong(f"text.content: {len(text.encode()):,} bytes; WeChat takes at most {TEXT_MAX_BYTES:,}")
        return message

    def template_data(self, fan: Mapping[str, Any]) -> dict[str, str]:
        return render_fields(self.fields, fan)


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _render(value: Any, fan: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, str):
        try:
            return compile_text(value).render(fan)
        except RenderError as exc:
            raise type(exc)(f"{path}: {exc}") from exc
    if isinstance(value, Mapping):
        return {key: _render(item, fan, f"{path}.{key}" if path else key) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, fan, f"{path}[{index}]") for index, item in enumerate(value)]
    return value
