"""WeChat's 2023 template rules as the lint applies them, and the declarative template file."""

import pytest

from wechat_campaigns.domain.templates import InvalidTemplateFile, lint, lint_value, parse_template_file


@pytest.mark.parametrize(
    ("field", "value", "severity"),
    [
        ("thing1", "巧克力礼盒", None),
        ("thing1", "这是一个超过二十个字的非常非常非常长的商品名称啊", "changed"),
        ("thing2", "买一送一🎉", "changed"),
        ("thing3", "第一行\n第二行", "changed"),
        ("number4", "39.5", None),
        ("number4", "三十", "refused"),
        ("amount5", "¥39.80", None),
        ("amount5", "39.80元", None),
        ("amount5", "很多钱", "refused"),
        ("character_string6", "SO2026-001", None),
        ("character_string6", "订单SO1", "refused"),
        ("time7", "2026-12-01 20:00", None),
        ("time7", "2026年12月1日 20:00", None),
        ("time7", "20:00~22:00", None),
        ("time7", "tonight", "refused"),
        ("date8", "2026-12-01", None),
        ("date8", "next week", "refused"),
        ("phrase9", "已发货", None),
        ("phrase9", "已经发货了啊", "refused"),
        ("name10", "张三", None),
        ("name10", "欧阳" * 6, "refused"),
        ("phone_number11", "021-12345678", None),
        ("letter12", "ABC", None),
        ("letter12", "AB1", "refused"),
        ("symbol13", "+", None),
        ("car_number14", "沪A12345", None),
        ("thing15", "", "refused"),
        ("keyword1", "旧模板的字段可以很长但超过二十个字会被截断的哦哦哦", "changed"),
    ],
)
def test_values_against_their_keyword_type(field, value, severity):
    found = {f.severity for f in lint_value(field, value)}
    assert (max(found, key=["changed", "refused"].index) if found else None) == severity, lint_value(field, value)


def test_first_and_remark_are_no_longer_shown():
    (finding,) = lint({"first": "您好", "thing1": "礼盒"})
    assert finding.field == "first" and finding.severity == "ignored"


def test_template_file_is_checked_field_by_field():
    plan = parse_template_file("t.yaml", {"industry": [1, "31"], "templates": [{"short_id": "TM1", "keywords": ["a"]}]})
    assert plan.industry == ("1", "31") and plan.templates[0].keywords == ("a",)
    bad = [
        ({"industry": [1]}, "industry"),
        ({"industry": [1, 99]}, "industry"),
        ({"templates": [{"keywords": ["a"]}]}, "templates[0].short_id"),
        ({"templates": [{"short_id": "TM1", "keywords": "a,b"}]}, "templates[0].keywords"),
        ({"templates": [{"short_id": "TM1", "color": "red"}]}, "templates[0].color"),
        ({"industri": [1, 2]}, "industri"),
    ]
    for data, field in bad:
        with pytest.raises(InvalidTemplateFile) as caught:
            parse_template_file("t.yaml", data)
        assert caught.value.field == field and "t.yaml" in str(caught.value)
