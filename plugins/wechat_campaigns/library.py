"""The material library on disk: ``include/materials/<kind>/<name>.yaml`` (or ``.json``) and its media files.

Media paths in a material are relative to its kind's folder (``news/media/cover.jpg`` is ``media/cover.jpg``
in ``news/launch.yaml``). The library tells the rules what each file is — size, format from its first bytes,
length for audio, a content hash for upload caching — and the rules in ``domain.materials`` decide.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import mutagen
import yaml

from .domain.materials import InvalidMaterial, Material, MediaFile, parse_material
from .domain.templates import InvalidTemplateFile, TemplatePlan, parse_template_file

_MAGIC = [
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"#!AMR\n", "amr"),
    (b"ID3", "mp3"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "wma"),
]
_AMR_FRAME_BYTES = [13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1]  # by AMR-NB frame type


def materials_dir() -> Path:
    """WECHAT_MATERIALS_DIR, else ``include/materials`` beside the project's dags/ folder."""
    configured = os.environ.get("WECHAT_MATERIALS_DIR")
    if configured:
        return Path(configured)
    dags = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if dags:
        return Path(dags).resolve().parent / "include" / "materials"
    return Path(__file__).resolve().parents[2] / "include" / "materials"


def load_material(name: str, root: Path | None = None) -> Material:
    """Load and check ``name`` (e.g. ``news/winter_launch``); errors name the file and the field."""
    root = (root or materials_dir()).resolve()
    kind = name.split("/", 1)[0]
    path = _material_file(name, root)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise InvalidMaterial(name, "file", f"cannot read {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMaterial(name, "file", f"{path.name} must hold a mapping of fields")
    folder = root / kind

    def resolve(field: str, relative: str) -> MediaFile:
        return media_file(name, field, folder, relative)

    def read_text(relative: str) -> str:
        target = _inside(name, "body_file", folder, relative)
        try:
            return target.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidMaterial(name, "body_file", f"cannot read {relative}: {exc}") from exc

    return parse_material(name, data, resolve, read_text)


def library_media(field: str, relative: str, root: Path | None = None) -> MediaFile:
    """A media file named from the library's root (``news/media/cover.jpg``), for content typed in the form."""
    return media_file("inline news", field, (root or materials_dir()).resolve(), relative)


def load_template_plan(conn_id: str, root: Path | None = None) -> TemplatePlan | None:
    """``templates/<conn_id>.yaml``: the account's declared industry and templates (None if there is none)."""
    path = (root or materials_dir()) / "templates" / f"{conn_id}.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidTemplateFile(path.name, "file", f"cannot read: {exc}") from exc
    return parse_template_file(path.name, data)


def _material_file(name: str, root: Path) -> Path:
    for suffix in (".yaml", ".yml", ".json"):
        path = root / f"{name}{suffix}"
        if path.is_file():
            return path
    raise InvalidMaterial(name, "file", f"not found in {root} (looked for {name}.yaml, .yml, .json)")


def _inside(name: str, field: str, folder: Path, relative: str) -> Path:
    target = (folder / relative).resolve()
    if folder not in target.parents:
        raise InvalidMaterial(name, field, f"{relative} is outside the material library")
    return target


def media_file(name: str, field: str, folder: Path, relative: str) -> MediaFile:
    target = _inside(name, field, folder, relative)
    if not target.is_file():
        raise InvalidMaterial(name, field, f"file {relative} not found in {folder}")
    return _describe(str(target), relative, target.stat().st_mtime_ns)


@lru_cache(maxsize=512)
def _describe(path: str, relative: str, mtime_ns: int) -> MediaFile:
    """What a file is; cached until it changes (a campaign reads the same cover many times)."""
    data = Path(path).read_bytes()
    format_ = _sniff(data)
    return MediaFile(
        name=relative,
        path=path,
        size=len(data),
        format=format_,
        sha256=hashlib.sha256(data).hexdigest(),
        duration=_duration(path, data, format_),
    )


def _sniff(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "mp3"  # an MPEG audio frame without an ID3 tag
    return None


def _duration(path: str, data: bytes, format_: str | None) -> float | None:
    if format_ == "amr":
        return _amr_seconds(data)
    if format_ in {"mp3", "wav", "wma"}:
        audio = mutagen.File(path)
        return float(audio.info.length) if audio is not None else None
    return None


def _amr_seconds(data: bytes) -> float:
    """AMR-NB: 20 ms frames whose size follows from each frame's header byte."""
    frames, at = 0, 6
    while at < len(data):
        at += _AMR_FRAME_BYTES[(data[at] >> 3) & 0x0F]
        frames += 1
    return frames * 0.02
