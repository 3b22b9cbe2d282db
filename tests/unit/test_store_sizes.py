"""Conf values longer than the store's columns are refused by field, with the limit the column itself sets;
the record of a failure is cut to fit."""

from datetime import UTC, datetime

import pytest

from wechat_campaigns.campaigns.validation import check_store_sizes
from wechat_campaigns.domain.spec import InvalidCampaign, parse_campaign
from wechat_campaigns.store.schema import runs
from wechat_campaigns.store.sizes import fit

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
NEWS = {"url": "https://example.com", "cover": "news/media/winter_cover.jpg"}


def refusal(conf) -> str | None:
    try:
        check_store_sizes(parse_campaign(conf, NOW))
    except InvalidCampaign as exc:
        return str(exc)
    return None


MASS = {"message_type": "mass", "text": "hi"}


@pytest.mark.parametrize(
    ("conf", "error"),
    [
        ({**MASS, "name": "n" * 201}, "name: 201 characters; the store keeps at most 200"),
        ({**MASS, "wechat_conn_id": "w" * 251}, "wechat_conn_id: 251 characters; the store keeps at most 250"),
        ({**MASS, "tag": "t" * 296}, "tag: 296 characters; the store keeps at most 295"),  # kept as "tag: <tag>"
        (
            {"message_type": "mass", "material": "text/" + "m" * 287},
            "material: 292 characters; the store keeps at most 291",
        ),
        (
            {"message_type": "mass", "news": {**NEWS, "title": "标" * 295}},
            "news.title: 295 characters; the store keeps at most 294",
        ),
    ],
)
def test_a_value_longer_than_its_column_is_refused_naming_the_field(conf, error):
    assert refusal(conf) == error


def test_values_that_just_fit_are_kept():
    assert refusal({"message_type": "mass", "text": "hi", "name": "n" * 200, "tag": "t" * 295}) is None
    template = {"message_type": "template", "template_id": "x" * 291, "template_data": {"thing1": "x"}}
    assert refusal(template) is None
    assert refusal({**template, "template_id": "x" * 292}).startswith("template_id: 292 characters")


def test_a_failure_record_is_cut_to_the_columns():
    kept = fit(runs, {"name": "n" * 500, "audience": "tag: " + "t" * 500, "error": "e" * 5000, "dry_run": True})
    assert (len(kept["name"]), len(kept["audience"]), len(kept["error"]), kept["dry_run"]) == (200, 300, 5000, True)
