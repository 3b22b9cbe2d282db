"""Materials: what a campaign sends, as marketers write them in ``include/materials/<kind>/<name>.yaml``.

This module checks a material's parsed content against WeChat's limits (pure: the files are described by
``MediaFile`` facts that ``library`` reads). Every error names the material, the field and what is wrong.

- text: ``content`` — 2,048 bytes (the sandbox's bound; WeChat publishes none).
- image: ``image`` — JPEG/PNG/GIF/BMP, 10 MB.
- voice: ``voice`` — MP3/WMA/WAV/AMR (customer service: MP3/AMR only), 2 MB, 60 s.
- video: ``video``, ``thumb``, ``title``, ``description`` — MP4, 10 MB; thumb JPEG, 64 KB.
- news: ``articles`` (1 to 8), each with ``title`` (32 characters), ``author`` (16), ``digest`` (128),
  ``cover`` (JPEG/PNG), ``body`` or ``body_file`` (HTML, under 20,000 characters and 1 MB; its images JPEG/PNG
  under 1 MB, uploaded with media/uploadimg), ``source_url``, ``open_comment``, ``fans_only_comment``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse

from .render import CompiledText, RenderError, compile_text

KB, MB = 1024, 1024 * 1024
TEXT_MAX_BYTES = 2048
IMAGE_FORMATS = {"jpeg", "png", "gif", "bmp"}
IMAGE_MAX = 10 * MB
VOICE_FORMATS = {"mp3", "wma", "wav", "amr"}
VOICE_TEMPORARY_FORMATS = {"mp3", "amr"}  # media/upload takes fewer formats than permanent material
VOICE_MAX, VOICE_MAX_SECONDS = 2 * MB, 60.0
VIDEO_MAX = 10 * MB
THUMB_MAX = 64 * KB
ARTICLE_IMAGE_MAX = 1 * MB
TITLE_MAX, AUTHOR_MAX, DIGEST_MAX = 32, 16, 128
BODY_MAX_CHARS, BODY_MAX_BYTES = 20_000, 1 * MB


class InvalidMaterial(ValueError):
    """A material that cannot be sent; the message names the material, the field and the problem."""

    def __init__(self, name: str, field: str, message: str):
        self.name, self.field = name, field
        super().__init__(f"material {name}: {field}: {message}")


@dataclass(frozen=True)
class MediaFile:
    """A file a material refers to, as the library found it on disk."""

    name: str  # as written in the material (media/winter_cover.jpg)
    path: str
    size: int
    format: str | None  # from the file's first bytes: jpeg, png, gif, bmp, mp3, wav, amr, wma, mp4
    sha256: str
    duration: float | None = None  # seconds, for audio


@dataclass(frozen=True)
class TextMaterial:
    name: str
    content: CompiledText
    kind = "text"

    @property
    def personalised(self) -> bool:
        return bool(self.content.variables)


@dataclass(frozen=True)
class ImageMaterial:
    name: str
    image: MediaFile
    kind = "image"
    personalised = False


@dataclass(frozen=True)
class VoiceMaterial:
    name: str
    voice: MediaFile
    kind = "voice"
    personalised = False


@dataclass(frozen=True)
class VideoMaterial:
    name: str
    video: MediaFile
    title: str
    description: str = ""
    thumb: MediaFile | None = None
    kind = "video"
    personalised = False


@dataclass(frozen=True)
class Article:
    title: CompiledText
    cover: MediaFile | None
    body: CompiledText
    author: str = ""
    digest: CompiledText | None = None
    source_url: str = ""
    images: tuple[MediaFile, ...] = ()  # images inside the body, uploaded with media/uploadimg
    open_comment: bool = False
    fans_only_comment: bool = False


@dataclass(frozen=True)
class NewsMaterial:
    name: str
    articles: tuple[Article, ...]
    kind = "news"

    @property
    def personalised(self) -> bool:
        return any(a.title.variables or (a.digest and a.digest.variables) for a in self.articles)

    @property
    def body_personalised(self) -> bool:
        return any(a.body.variables for a in self.articles)


Material = TextMaterial | ImageMaterial | VoiceMaterial | VideoMaterial | NewsMaterial

# resolve(field, relative file name) -> MediaFile; raises InvalidMaterial when the file is missing
Resolve = Callable[[str, str], MediaFile]
# a kind's parser: (name, data, resolve, read_text) -> its material
_Parser = Callable[[str, Mapping[str, Any], Resolve, Callable[[str], str]], Material]

_KEYS = {
    "text": {"content"},
    "image": {"image"},
    "voice": {"voice"},
    "video": {"video", "thumb", "title", "description"},
    "news": {"articles"},
}
_ARTICLE_KEYS = {
    "title",
    "author",
    "digest",
    "cover",
    "body",
    "body_file",
    "source_url",
    "open_comment",
    "fans_only_comment",
}
_COMMON_KEYS = {"description", "notes"}  # free text for people; WeChat never sees it (but video uses description)


def parse_material(name: str, data: Mapping[str, Any], resolve: Resolve, read_text: Callable[[str], str]) -> Material:
    """Check a material file's fields; ``resolve`` finds media files, ``read_text`` reads a body_file."""
    kind = name.split("/", 1)[0]
    if kind not in _KEYS:
        raise InvalidMaterial(name, "kind", f"{kind!r} is not one of {', '.join(sorted(_KEYS))}")
    unknown = sorted(set(data) - _KEYS[kind] - _COMMON_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_KEYS[kind] | _COMMON_KEYS))
        raise InvalidMaterial(name, unknown[0], f"unknown key (a {kind} material has {allowed})")
    parsers: dict[str, _Parser] = {"text": _text, "image": _image, "voice": _voice, "video": _video, "news": _news}
    return parsers[kind](name, data, resolve, read_text)


def _text(name, data, resolve, read_text) -> TextMaterial:
    content = _required_text(name, "content", data.get("content"))
    size = len(content.encode("utf-8"))
    if size > TEXT_MAX_BYTES:
        raise InvalidMaterial(name, "content", f"{size} bytes; WeChat takes at most {TEXT_MAX_BYTES}")
    return TextMaterial(name, _compile(name, "content", content))


def inline_text(content: str) -> TextMaterial:
    """Text typed into the trigger form."""
    return _text("inline text", {"content": content}, None, None)


def _image(name, data, resolve, read_text) -> ImageMaterial:
    image = _media(name, "image", data.get("image"), resolve)
    _check_file(name, "image", image, IMAGE_FORMATS, IMAGE_MAX)
    return ImageMaterial(name, image)


def _voice(name, data, resolve, read_text) -> VoiceMaterial:
    voice = _media(name, "voice", data.get("voice"), resolve)
    _check_file(name, "voice", voice, VOICE_FORMATS, VOICE_MAX)
    if voice.duration is None:
        raise InvalidMaterial(name, "voice", f"cannot tell how long {voice.name} plays")
    if voice.duration > VOICE_MAX_SECONDS:
        raise InvalidMaterial(name, "voice", f"{voice.duration:.0f} s; WeChat takes voice up to 60 s")
    return VoiceMaterial(name, voice)


def _video(name, data, resolve, read_text) -> VideoMaterial:
    video = _media(name, "video", data.get("video"), resolve)
    _check_file(name, "video", video, {"mp4"}, VIDEO_MAX)
    thumb = None
    if data.get("thumb") is not None:
        thumb = _media(name, "thumb", data["thumb"], resolve)
        _check_file(name, "thumb", thumb, {"jpeg"}, THUMB_MAX)
    title = _required_text(name, "title", data.get("title"))
    _max_chars(name, "title", title, TITLE_MAX)
    return VideoMaterial(name, video, title, str(data.get("description") or ""), thumb)


def _news(name, data, resolve, read_text) -> NewsMaterial:
    articles = data.get("articles")
    if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
        raise InvalidMaterial(name, "articles", "must list 1 to 8 articles")
    return NewsMaterial(
        name, tuple(_article(name, f"articles[{i}]", a, resolve, read_text) for i, a in enumerate(articles))
    )


def _article(name: str, at: str, data: Any, resolve: Resolve, read_text) -> Article:
    if not isinstance(data, Mapping):
        raise InvalidMaterial(name, at, "must be a mapping with title, cover, body, ...")
    unknown = sorted(set(data) - _ARTICLE_KEYS)
    if unknown:
        raise InvalidMaterial(
            name, f"{at}.{unknown[0]}", f"unknown key (an article has {', '.join(sorted(_ARTICLE_KEYS))})"
        )
    title = _required_text(name, f"{at}.title", data.get("title"))
    _max_chars(name, f"{at}.title", title, TITLE_MAX)
    author = str(data.get("author") or "")
    _max_chars(name, f"{at}.author", author, AUTHOR_MAX)
    digest = str(data.get("digest") or "")
    _max_chars(name, f"{at}.digest", digest, DIGEST_MAX)
    cover = _media(name, f"{at}.cover", data.get("cover"), resolve)
    _check_file(name, f"{at}.cover", cover, {"jpeg", "png"}, IMAGE_MAX)
    body = _body(name, at, data, read_text)
    source_url = str(data.get("source_url") or "")
    if source_url and urlparse(source_url).scheme not in {"http", "https"}:
        raise InvalidMaterial(name, f"{at}.source_url", f"{source_url!r} is not an http(s) address")
    images = []
    for src in image_sources(body):
        if urlparse(src).scheme in {"http", "https"}:
            raise InvalidMaterial(
                name,
                f"{at}.body",
                f"image {src} is not on WeChat's servers and would be removed; put the file "
                "in media/ and refer to it by its path, it is uploaded with media/uploadimg",
            )
        image = _media(name, f"{at}.body", src, resolve)
        _check_file(name, f"{at}.body image {src}", image, {"jpeg", "png"}, ARTICLE_IMAGE_MAX - 1)
        images.append(image)
    return Article(
        title=_compile(name, f"{at}.title", title),
        cover=cover,
        body=_compile(name, f"{at}.body", body),
        author=author,
        digest=_compile(name, f"{at}.digest", digest) if digest else None,
        source_url=source_url,
        images=tuple(images),
        open_comment=bool(data.get("open_comment", False)),
        fans_only_comment=bool(data.get("fans_only_comment", False)),
    )


def _body(name: str, at: str, data: Mapping[str, Any], read_text) -> str:
    if data.get("body") is not None and data.get("body_file") is not None:
        raise InvalidMaterial(name, f"{at}.body", "give body or body_file, not both")
    if data.get("body_file") is not None:
        body = read_text(str(data["body_file"]))
    else:
        body = _required_text(name, f"{at}.body", data.get("body"))
    if len(body) >= BODY_MAX_CHARS or len(body.encode()) >= BODY_MAX_BYTES:
        raise InvalidMaterial(name, f"{at}.body", f"{len(body)} characters; WeChat takes under {BODY_MAX_CHARS:,}")
    if "<script" in body.lower():
        raise InvalidMaterial(name, f"{at}.body", "WeChat removes scripts from articles; take the <script> out")
    return body


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            src = dict(attrs).get("src")
            if src:
                self.sources.append(src)


def image_sources(html: str) -> list[str]:
    """The ``src`` of every ``<img>`` in an article body, in order, each once."""
    finder = _ImageSources()
    finder.feed(html)
    return list(dict.fromkeys(finder.sources))


def news_from_form(item: Mapping[str, Any], cover: MediaFile) -> NewsMaterial:
    """A one-article news item typed into the trigger form: title, url, digest and a cover from the library."""
    name = "inline news"
    title = _required_text(name, "news.title", item.get("title"))
    _max_chars(name, "news.title", title, TITLE_MAX)
    url = _required_text(name, "news.url", item.get("url"))
    if urlparse(url).scheme not in {"http", "https"}:
        raise InvalidMaterial(name, "news.url", f"{url!r} is not an http(s) address")
    digest = str(item.get("digest") or "")
    _max_chars(name, "news.digest", digest, DIGEST_MAX)
    _check_file(name, "news.cover", cover, {"jpeg", "png"}, IMAGE_MAX)
    body = f'<p>{_escape(digest or title)}</p><p><a href="{_escape(url)}">{_escape(url)}</a></p>'
    article = Article(
        title=_compile(name, "news.title", title),
        cover=cover,
        body=CompiledText(body, frozenset()),  # typed text, not a template
        digest=_compile(name, "news.digest", digest) if digest else None,
        source_url=url,
    )
    return NewsMaterial(name, (article,))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# -- what each kind of campaign can carry -------------------------------------------------------------------


def check_for_campaign(material: Material, kind: str) -> None:
    """Rules that depend on how the material is sent (``kind``: mass or customer_service)."""
    if kind == "mass":
        if material.personalised or (isinstance(material, NewsMaterial) and material.body_personalised):
            raise InvalidMaterial(
                material.name, "content", "a mass message is the same for every fan; no fan attributes"
            )
        if isinstance(material, NewsMaterial) and any(a.cover is None for a in material.articles):
            raise InvalidMaterial(material.name, "cover", "a mass news article needs a cover image file")
    if kind == "customer_service":
        if isinstance(material, NewsMaterial):
            if len(material.articles) != 1:
                raise InvalidMaterial(material.name, "articles", "customer-service news carries exactly one article")
            if not material.articles[0].source_url:
                raise InvalidMaterial(
                    material.name, "articles[0].source_url", "a customer-service news card opens a link"
                )
        if isinstance(material, VoiceMaterial) and material.voice.format not in VOICE_TEMPORARY_FORMATS:
            raise InvalidMaterial(material.name, "voice", "customer-service voice must be MP3 or AMR")


# -- helpers -----------------------------------------------------------------------------------------------


def _required_text(name: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidMaterial(name, field, "must be a non-empty text")
    return value


def _max_chars(name: str, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidMaterial(name, field, f"{len(value)} characters; WeChat allows {limit}")


def _compile(name: str, field: str, source: str) -> CompiledText:
    try:
        return compile_text(source)
    except RenderError as exc:
        raise InvalidMaterial(name, field, str(exc)) from exc


def _media(name: str, field: str, value: Any, resolve: Resolve) -> MediaFile:
    if not isinstance(value, str) or not value.strip():
        raise InvalidMaterial(name, field, "must name a file, e.g. media/cover.jpg")
    return resolve(field, value.strip())


def _check_file(name: str, field: str, media: MediaFile, formats: set[str], max_size: int) -> None:
    if media.format not in formats:
        found = media.format or "an unknown format"
        raise InvalidMaterial(name, field, f"{media.name} is {found}; WeChat takes {', '.join(sorted(formats))}")
    if media.size > max_size:
        raise InvalidMaterial(name, field, f"{media.name} is {media.size:,} bytes; the limit is {max_size:,}")
