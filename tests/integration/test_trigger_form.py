"""The trigger form of ``wechat_campaign`` as Airflow shows it: a field for every conf key, the material library
offered in the material field, fields grouped by the message type they belong to, hints in English and
Chinese that say which type each field is for and quote no file of the repository."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from wechat_campaigns.domain.spec import CONF_FIELDS

CJK = re.compile(r"[\u4e00-\u9fff]")
A_FILE = re.compile(r"include/|\w\.(ya?ml|json|jpe?g|png|html)\b")
# Each hint starts by naming the message types it is for.
KINDS = (
    "All message types · 所有类型",
    "Mass and customer-service messages · 群发与客服消息",
    "Template messages · 模板消息",
    "Customer-service messages · 客服消息",
)


@pytest.fixture(scope="module")
def form():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "wechat_campaign.py"))
    assert bag.import_errors == {}
    return bag.dags["wechat_campaign"].params


def library_names() -> list[str]:
    folder = ROOT / "include" / "materials"
    kinds = ("text", "news", "image", "voice", "video")
    return sorted(f"{kind}/{path.stem}" for kind in kinds for path in (folder / kind).glob("*.y*ml"))


def test_the_form_has_a_field_for_every_conf_key_and_no_other(form):
    assert set(form) == set(CONF_FIELDS)


def test_the_material_field_offers_every_material_of_the_library(form):
    material = form.get_param("material")
    assert library_names() and material.schema["examples"] == library_names()
    assert "enum" not in material.schema  # a material added since the DAG was parsed can still be sent


def test_no_hint_quotes_a_file(form):
    quoting = {name: param.description for name, param in form.items() if A_FILE.search(param.description or "")}
    assert quoting == {}


def test_every_hint_says_which_message_types_it_is_for_in_english_and_chinese(form):
    for name, param in form.items():
        hint = param.description or ""
        assert hint.startswith(KINDS), f"{name}: {hint}"
        assert CJK.search(hint.split(" — ", 1)[1]) and re.search("[A-Za-z]{3}", hint.split(" — ", 1)[1]), name


def test_fields_are_grouped_by_the_message_type_they_belong_to(form):
    section = {name: param.schema.get("section") for name, param in form.items()}
    assert {section[name] for name in ("material", "text", "news")} == {
        "Content: mass and customer service · 内容：群发与客服"
    }
    assert {section[name] for name in ("template_id", "template_data", "template_strict", "url")} == {
        "Template message · 模板消息"
    }
    assert section["message_type"] is None  # the first choice, always open
