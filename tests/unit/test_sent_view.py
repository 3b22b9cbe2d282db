"""How the Sent page reads a run's state, funnel and reasons."""

from wechat_campaigns.campaigns.sent import display_status, funnel, reasons
from wechat_campaigns.integration.sent_labels import LABELS, language

NOW = 1_800_000_000.0


def test_a_scheduled_run_cancelled_in_airflow_shows_as_cancelled():
    scheduled = {"status": "scheduled", "scheduled_for": NOW + 3600}
    assert display_status(scheduled, "running", NOW) == "scheduled"
    assert display_status(scheduled, "failed", NOW) == "cancelled"
    assert display_status({"status": "sending"}, "failed", NOW) == "failed"
    assert display_status({"status": "completed"}, "success", NOW) == "completed"
    assert display_status({"status": "partial"}, "failed", NOW) == "partial"


def test_every_run_status_has_a_label_in_english_and_chinese():
    statuses = ["scheduled", "sending", "completed", "partial", "failed", "rejected", "dry_run", "cancelled"]
    for words in LABELS.values():
        assert all(words.get(status) for status in statuses), [s for s in statuses if s not in words]
    assert (LABELS["en"]["partial"], LABELS["zh"]["partial"]) == ("Partly sent", "部分发送")


def test_funnel_shares_and_wechats_delivery_figures():
    row = {
        "counts": {"audience": 200, "eligible": 150, "status": {"sent": 140, "failed": 10, "excluded": 50}},
        "wechat_report": {"jobs_reported": 1, "sent": 120},
    }
    assert [(s["step"], s["count"], s["share"]) for s in funnel(row)] == [
        ("audience", 200, 100.0),
        ("eligible", 150, 75.0),
        ("sent", 140, 70.0),
        ("delivered", 120, 60.0),
    ]
    assert funnel({"counts": {}}, live={"pending": 5})[3]["count"] is None  # not reported yet


def test_reasons_largest_first():
    row = {"counts": {"reasons": {"excluded:monthly_cap": 3, "failed:blocked": 9}}}
    assert [r["reason"] for r in reasons(row)] == ["blocked", "monthly_cap"]


def test_language_follows_the_browser():
    assert language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert language("en-GB,en;q=0.9,zh-CN;q=0.5") == "en"
    assert language("fr-FR") == "en" and language(None) == "en"
