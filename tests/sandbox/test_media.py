"""Media uploads, permanent material, article images, drafts and mass videos."""

from __future__ import annotations

import json

import pytest

from .conftest import assert_error

MB = 1024 * 1024


def upload(account, kind, name, size, path="/cgi-bin/media/upload", data=None, content_type="application/octet-stream"):
    return account.call(
        path, params={"type": kind} if kind else None, files={"media": (name, b"x" * size, content_type)}, data=data
    )


def test_temporary_upload_answers(service_account):
    image = upload(service_account, "image", "a.jpg", 1000)
    assert image["type"] == "image" and image["media_id"] and isinstance(image["created_at"], int)
    thumb = upload(service_account, "thumb", "t.jpg", 1000)
    assert thumb["type"] == "thumb" and thumb["thumb_media_id"]
    assert upload(service_account, "voice", "v", 1000, content_type="audio/amr")["type"] == "voice"  # by content type


@pytest.mark.parametrize(
    ("kind", "name", "size", "code"),
    [
        ("image", "big.png", 10 * MB + 1, 40009),
        ("voice", "big.mp3", 2 * MB + 1, 40010),
        ("video", "big.mp4", 10 * MB + 1, 40011),
        ("thumb", "big.jpg", 64 * 1024 + 1, 40012),
        ("image", "doc.pdf", 100, 40005),
        ("thumb", "t.png", 100, 40005),
        ("file", "a.png", 100, 40004),
    ],
)
def test_upload_limits(service_account, kind, name, size, code):
    assert_error(upload(service_account, kind, name, size), code)


def test_upload_without_the_media_field(service_account):
    answer = service_account.call("/cgi-bin/media/upload", params={"type": "image"}, files={"other": ("a.png", b"x")})
    assert_error(answer, 41005)


def test_permanent_material_and_article_images(service_account):
    image = upload(service_account, "image", "a.bmp", 1000, "/cgi-bin/material/add_material")
    assert image["media_id"] and image["url"].startswith("http://mmbiz.qpic.cn/")
    assert_error(upload(service_account, "video", "v.mp4", 1000, "/cgi-bin/material/add_material"), 47001)
    description = json.dumps({"title": "宣传片", "introduction": "新品"}, ensure_ascii=False)
    video = upload(
        service_account, "video", "v.mp4", 1000, "/cgi-bin/material/add_material", {"description": description}
    )
    assert video["media_id"] and "url" not in video
    url = upload(service_account, None, "in-article.png", 1000, "/cgi-bin/media/uploadimg")["url"]
    assert url.startswith("http://mmbiz.qpic.cn/")
    assert_error(upload(service_account, None, "big.png", MB, "/cgi-bin/media/uploadimg"), 40009)
    assert_error(upload(service_account, None, "a.gif", 100, "/cgi-bin/media/uploadimg"), 40005)


def test_draft_rules(service_account):
    cover = upload(service_account, "image", "c.jpg", 1000, "/cgi-bin/material/add_material")["media_id"]
    temporary = upload(service_account, "image", "t.jpg", 1000)["media_id"]
    article = {
        "title": "标" * 32,
        "author": "作" * 16,
        "digest": "摘" * 128,
        "content": "文" * 19_999,
        "thumb_media_id": cover,
    }
    assert service_account.call("/cgi-bin/draft/add", {"articles": [article]})["media_id"]
    cases = [
        ({"title": "标" * 33}, 45003),
        ({"author": "作" * 17}, 45110),
        ({"digest": "摘" * 129}, 45004),
        ({"content": "文" * 20_000}, 45002),
        ({"thumb_media_id": temporary}, 40007),
        ({"thumb_media_id": "unknown"}, 40007),
    ]
    for change, code in cases:
        assert_error(service_account.call("/cgi-bin/draft/add", {"articles": [{**article, **change}]}), code)
    assert_error(service_account.call("/cgi-bin/draft/add", {"articles": []}), 44003)


def test_uploadvideo_needs_a_video(service_account):
    image = upload(service_account, "image", "a.png", 100)["media_id"]
    assert_error(service_account.call("/cgi-bin/media/uploadvideo", {"media_id": image, "title": "x"}), 40007)
