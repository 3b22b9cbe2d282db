"""Material files: the library's examples load, and every kind of mistake is named by file and field."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from tests.conftest import ROOT
from wechat_campaigns.domain.materials import InvalidMaterial, check_for_campaign
from wechat_campaigns.library import load_material

EXAMPLES = ROOT / "include" / "materials"
JPEG = (EXAMPLES / "image/media/winter_poster.jpg").read_bytes()
PNG = (EXAMPLES / "news/media/latte_art.png").read_bytes()


@pytest.mark.parametrize(
    "name",
    [
        "text/welcome",
        "text/double11_reminder",
        "text/weekly_digest_en",
        "image/winter_poster",
        "voice/greeting",
        "video/teaser",
        "news/winter_launch",
        "news/recipe_en",
    ],
)
def test_every_example_material_loads(name):
    material = load_material(name, EXAMPLES)
    assert material.name == name


def test_the_example_news_body_refers_to_its_inline_image():
    news = load_material("news/winter_launch", EXAMPLES)
    assert [image.name for image in news.articles[0].images] == ["media/latte_art.png"]
    assert news.articles[0].cover.format == "jpeg"


def test_audio_length_is_measured():
    voice = load_material("voice/greeting", EXAMPLES).voice
    assert voice.format == "mp3" and 2.5 < voice.duration < 3.5


def library_with_examples(path: Path) -> Path:
    """An empty library with the example media copied in, to write broken materials into."""
    for kind in ("text", "image", "voice", "video", "news"):
        (path / kind / "media").mkdir(parents=True)
    for source in EXAMPLES.glob("*/media/*"):
        shutil.copy(source, path / source.parent.parent.name / "media" / source.name)
    return path


@pytest.fixture
def library(tmp_path):
    return library_with_examples(tmp_path)


def write(library: Path, name: str, text: str) -> None:
    (library / f"{name}.yaml").write_text(text, encoding="utf-8")


def silence_wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * int(8000 * seconds))


ARTICLE = "title: 标题\n    cover: media/winter_cover.jpg\n    body: <p>正文</p>\n"


@pytest.mark.parametrize(
    ("name", "yaml", "setup", "field", "words"),
    [
        ("text/missing", None, None, "file", "not found"),
        ("text/empty", "content: ''", None, "content", "non-empty"),
        ("text/typo", "contnet: hi", None, "contnet", "unknown key"),
        ("text/long", "content: " + "长" * 700, None, "content", "2048"),
        ("text/jinja", "content: '{{ name '", None, "content", "syntax"),
        ("image/none", "image: media/nothing.jpg", None, "image", "not found"),
        ("image/escape", "image: ../../etc/passwd", None, "image", "outside"),
        (
            "image/fake",
            "image: media/fake.jpg",
            lambda d: (d / "image/media/fake.jpg").write_text("not a picture"),
            "image",
            "unknown format",
        ),
        (
            "image/huge",
            "image: media/huge.jpg",
            lambda d: (d / "image/media/huge.jpg").write_bytes(JPEG + b"\0" * 11 * 2**20),
            "image",
            "limit",
        ),
        ("voice/long", "voice: media/long.wav", lambda d: silence_wav(d / "voice/media/long.wav", 61), "voice", "60 s"),
        ("voice/picture", "voice: media/p.jpg", lambda d: (d / "voice/media/p.jpg").write_bytes(JPEG), "voice", "jpeg"),
        (
            "video/notmp4",
            "title: t\nvideo: media/v.jpg",
            lambda d: (d / "video/media/v.jpg").write_bytes(JPEG),
            "video",
            "mp4",
        ),
        (
            "video/bigthumb",
            "title: t\nvideo: media/teaser.mp4\nthumb: media/t.jpg",
            lambda d: (d / "video/media/t.jpg").write_bytes(JPEG * 5),
            "thumb",
            "65,536",
        ),
        ("video/untitled", "video: media/teaser.mp4", None, "title", "non-empty"),
        ("news/none", "articles: []", None, "articles", "1 to 8"),
        (
            "news/longtitle",
            "articles:\n  - title: " + "很" * 33 + "\n    cover: media/winter_cover.jpg\n    body: x",
            None,
            "articles[0].title",
            "32",
        ),
        ("news/author", "articles:\n  - " + ARTICLE + "    author: " + "名" * 17, None, "articles[0].author", "16"),
        ("news/digest", "articles:\n  - " + ARTICLE + "    digest: " + "d" * 129, None, "articles[0].digest", "128"),
        ("news/nocover", "articles:\n  - title: t\n    body: x", None, "articles[0].cover", "must name a file"),
        (
            "news/bigbody",
            "articles:\n  - title: t\n    cover: media/winter_cover.jpg\n    body: " + "x" * 20_000,
            None,
            "articles[0].body",
            "20,000",
        ),
        (
            "news/script",
            "articles:\n  - title: t\n    cover: media/winter_cover.jpg\n    body: <script>x()</script>",
            None,
            "articles[0].body",
            "script",
        ),
        (
            "news/remote",
            "articles:\n  - title: t\n    cover: media/winter_cover.jpg\n    body: <img src='https://cdn.example.com/a.png'>",
            None,
            "articles[0].body",
            "not on WeChat",
        ),
        (
            "news/bigimg",
            "articles:\n  - title: t\n    cover: media/winter_cover.jpg\n    body: <img src='media/big.png'>",
            lambda d: (d / "news/media/big.png").write_bytes(PNG + b"\0" * 2**20),
            "articles[0].body image media/big.png",
            "limit",
        ),
        ("news/extra", "articles:\n  - " + ARTICLE + "    colour: red", None, "articles[0].colour", "unknown key"),
        (
            "news/badurl",
            "articles:\n  - " + ARTICLE + "    source_url: ftp://x",
            None,
            "articles[0].source_url",
            "http",
        ),
        ("news/both", "articles:\n  - " + ARTICLE + "    body_file: a.html", None, "articles[0].body", "not both"),
    ],
)
def test_mistakes_are_named_by_file_and_field(library, name, yaml, setup, field, words):
    if setup:
        setup(library)
    if yaml is not None:
        write(library, name, yaml)
    with pytest.raises(InvalidMaterial) as caught:
        load_material(name, library)
    assert caught.value.field == field
    assert words in str(caught.value) and name in str(caught.value)


@pytest.mark.parametrize(
    ("name", "kind", "field"),
    [
        ("news/winter_launch", "customer_service", "articles"),  # a customer-service card shows one article
        ("news/recipe_en", "mass", "content"),  # a mass message cannot use fan attributes
        ("text/double11_reminder", "mass", "content"),
    ],
)
def test_what_each_kind_of_campaign_can_carry(name, kind, field):
    with pytest.raises(InvalidMaterial) as caught:
        check_for_campaign(load_material(name, EXAMPLES), kind)
    assert caught.value.field == field


def test_customer_service_voice_must_be_mp3_or_amr(library):
    silence_wav(library / "voice/media/short.wav", 2)
    write(library, "voice/short", "voice: media/short.wav")
    material = load_material("voice/short", library)
    check_for_campaign(material, "mass")  # permanent material takes WAV
    with pytest.raises(InvalidMaterial, match="MP3 or AMR"):
        check_for_campaign(material, "customer_service")
