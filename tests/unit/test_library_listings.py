"""The libraries' pure parts: a template's fields with WeChat's example values, and which library files may be
shown as images."""

from __future__ import annotations

import pytest

from wechat_campaigns.campaigns.libraries.materials import library_image, material_names
from wechat_campaigns.campaigns.libraries.templates import TemplateField, template_fields_with_examples


def test_each_field_gets_its_label_type_and_example_value():
    content = "活动名称:{{thing1.DATA}}\n活动时间：{{ time2.DATA }}\n温馨提示:{{thing3.DATA}}"
    example = "活动名称:冬季会员日\n活动时间：2026-12-01 20:00\n温馨提示:凭会员码入场"
    assert template_fields_with_examples(content, example) == [
        TemplateField("thing1", "活动名称", "thing", "冬季会员日"),
        TemplateField("time2", "活动时间", "time", "2026-12-01 20:00"),
        TemplateField("thing3", "温馨提示", "thing", "凭会员码入场"),
    ]


def test_first_and_remark_are_left_out_and_a_field_without_example_has_none():
    content = "{{first.DATA}}\n商品名称：{{thing1.DATA}}\n{{remark.DATA}}"
    assert template_fields_with_examples(content, "") == [TemplateField("thing1", "商品名称", "thing", "")]


def test_the_projects_library_images_are_found_and_nothing_else(tmp_path):
    (tmp_path / "image" / "media").mkdir(parents=True)
    (tmp_path / "image" / "media" / "poster.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "image" / "poster.yaml").write_text("image: media/poster.jpg\n")
    (tmp_path.parent / "outside.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert library_image("image/media/poster.jpg", tmp_path) == tmp_path / "image" / "media" / "poster.jpg"
    for path in ("image/poster.yaml", "../outside.png", str(tmp_path.parent / "outside.png"), "", "image"):
        with pytest.raises(LookupError):
            library_image(path, tmp_path)
    assert material_names(root=tmp_path) == ["image/poster"]
