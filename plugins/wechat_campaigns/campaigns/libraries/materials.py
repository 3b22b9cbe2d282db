"""The material library as a marketer browses it: each material with a preview, where the history shows it
used, and what of it the account has uploaded to WeChat."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mutagen
import yaml
from sqlalchemy.engine import Engine

from ...domain.materials import (
    ImageMaterial,
    InvalidMaterial,
    Material,
    MediaFile,
    NewsMaterial,
    TextMaterial,
    VideoMaterial,
    VoiceMaterial,
)
from ...library import load_material, materials_dir
from ...store.media import uploads_of
from ...store.usage import runs_by_content

KINDS = ("text", "image", "news", "voice", "video")
SUFFIXES = (".yaml", ".yml", ".json")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}


@dataclass(frozen=True)
class MaterialEntry:
    """One material: ``name`` is what a campaign's ``material`` field takes (``news/winter_launch``)."""

    name: str
    kind: str
    description: str = ""
    preview: dict[str, Any] = field(default_factory=dict)
    files: tuple[MediaFile, ...] = ()  # what a send uploads of it
    problem: str | None = None  # why a campaign would refuse it

    @property
    def content(self) -> str:
        """How the history names a run that sent it (``CampaignSpec.content``)."""
        return f"material {self.name}"


def material_names(kind: str | None = None, search: str | None = None, root: Path | None = None) -> list[str]:
    """Every material's name, by kind then name; only file names are read, so this stays quick."""
    root = (root or materials_dir()).resolve()
    names = []
    for each in KINDS if kind is None else (kind,):
        folder = root / each
        if folder.is_dir():
            stems = {p.stem for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()}
            names += [f"{each}/{stem}" for stem in sorted(stems)]
    if search:
        names = [name for name in names if search.lower() in name.lower()]
    return names


def materials_page(
    kind: str | None = None, search: str | None = None, offset: int = 0, limit: int = 24, root: Path | None = None
) -> tuple[list[MaterialEntry], int]:
    """A page of materials, each read and checked, and how many match in all."""
    names = material_names(kind, search, root)
    return [describe_material(name, root) for name in names[offset : offset + limit]], len(names)


def describe_material(name: str, root: Path | None = None) -> MaterialEntry:
    """The material's preview and files; a material a campaign would refuse keeps its reason."""
    root = (root or materials_dir()).resolve()
    kind = name.split("/", 1)[0]
    description = _description(root, name)
    try:
        material = load_material(name, root)
    except InvalidMaterial as exc:
        return MaterialEntry(name, kind, description, problem=str(exc))
    preview, files = _preview(material, root)
    return MaterialEntry(name, kind, description, preview, files)


def _description(root: Path, name: str) -> str:
    """The file's ``description``: free text for people, which WeChat never sees (video's is its caption)."""
    for suffix in SUFFIXES:
        path = root / f"{name}{suffix}"
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
                data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
            except (OSError, ValueError, yaml.YAMLError):
                return ""  # describe_material reports the problem
            return str(data.get("description") or "") if isinstance(data, dict) else ""
    return ""


def _preview(material: Material, root: Path) -> tuple[dict[str, Any], tuple[MediaFile, ...]]:
    def shown(file: MediaFile | None) -> dict[str, Any] | None:
        if file is None:
            return None
        return {"path": _relative(file, root), "format": file.format, "size": file.size, "duration": file.duration}

    if isinstance(material, TextMaterial):
        return {"text": material.content.source, "personalised": material.personalised}, ()
    if isinstance(material, ImageMaterial):
        return {"image": shown(material.image)}, (material.image,)
    if isinstance(material, VoiceMaterial):
        return {"voice": shown(material.voice)}, (material.voice,)
    if isinstance(material, VideoMaterial):
        video = {**(shown(material.video) or {}), "duration": _video_seconds(material.video)}
        thumb = (material.thumb,) if material.thumb else ()
        preview = {"video": video, "thumb": shown(material.thumb), "title": material.title}
        return {**preview, "caption": material.description}, (material.video, *thumb)
    return _news_preview(material, shown)


def _news_preview(material: NewsMaterial, shown: Callable) -> tuple[dict[str, Any], tuple[MediaFile, ...]]:
    articles = [
        {
            "title": article.title.source,
            "digest": article.digest.source if article.digest else "",
            "author": article.author,
            "cover": shown(article.cover),
            "source_url": article.source_url,
        }
        for article in material.articles
    ]
    files = [f for a in material.articles for f in ((a.cover,) if a.cover else ()) + a.images]
    return {"articles": articles}, tuple(files)


def _relative(file: MediaFile, root: Path) -> str:
    return Path(file.path).resolve().relative_to(root).as_posix()


def _video_seconds(file: MediaFile) -> float | None:
    """An MP4's length from its header (mutagen); None when it cannot be read."""
    try:
        found = mutagen.File(file.path)
    except mutagen.MutagenError:
        return None
    return float(found.info.length) if found is not None else None


def library_image(relative: str, root: Path | None = None) -> Path:
    """The image file ``relative`` names inside the library, for a thumbnail. Anything else — a path out of
    the library (``../``, absolute, a link pointing out), a material's YAML, a voice — is ``LookupError``."""
    root = (root or materials_dir()).resolve()
    target = (root / relative).resolve()
    if root not in target.parents or target.suffix.lower() not in IMAGE_SUFFIXES or not target.is_file():
        raise LookupError(relative)
    return target


# -- where a material is used, and what WeChat holds of it --------------------------------------------------


def materials_usage(
    engine: Engine, entries: Sequence[MaterialEntry], dag_ids: Collection[str] | None = None
) -> dict[str, dict[str, Any]]:
    """material name -> the history's runs that sent it (count, last, the newest few); see runs_by_content."""
    used = runs_by_content(engine, [entry.content for entry in entries], dag_ids)
    return {entry.name: used[entry.content] for entry in entries if entry.content in used}


def upload_state(engine: Engine, appid: str, entries: Sequence[MaterialEntry]) -> dict[str, list[dict[str, Any]]]:
    """material name -> what the account uploaded of its files: each upload's file, what it is for
    (``permanent_image``, ``temporary_voice``, ``article_image``...), media_id, when, and for temporary media
    when it expires. Drafts and mass videos are made of a whole send, not of one file: not listed here."""
    uploads = uploads_of(engine, appid, [file.sha256 for entry in entries for file in entry.files])
    state: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        rows = [
            {"file": file.name, "temporary": row["purpose"].startswith("temporary_"), **row}
            for file in dict.fromkeys(entry.files)
            for row in uploads.get(file.sha256, [])
        ]
        if rows:
            state[entry.name] = rows
    return state
