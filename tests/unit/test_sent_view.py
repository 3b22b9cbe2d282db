"""How the Sent page reads a run's state, funnel and reasons."""

from wechat_campaigns.campaigns.sent import can_cancel, display_status, funnel, mass_jobs, reasons
from wechat_campaigns.domain import errors, verdict
from wechat_campaigns.integration.sent_labels import (
    ERRORS_ZH,
    LABELS,
    REASONS_ZH,
    error_text,
    history_words,
    language,
    mass_status_label,
    reason_label,
)

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


def test_each_mass_job_shows_wechats_status_counts_and_what_it_means():
    reported = {"msg_id": "1", "total_count": 6, "filter_count": 6, "finished_at": 1.0}
    jobs = [
        {**reported, "wechat_status": "send success", "sent_count": 6, "error_count": 0},
        {**reported, "wechat_status": "send success", "sent_count": 4, "error_count": 2},
        {**reported, "wechat_status": "err(40001)", "sent_count": 0, "error_count": 6},
        {"msg_id": "2", "wechat_status": None, "finished_at": None},
    ]
    shown = mass_jobs(jobs)
    assert [job["result"] for job in shown] == ["completed", "partial", "failed", "not_reported"]
    assert shown[2] == {
        "msg_id": "1", "wechat_status": "err(40001)", "total": 6, "filter": 6, "sent": 0, "error": 6, "result": "failed"
    }  # fmt: skip
    for words in LABELS.values():
        assert all(words.get(key) for key in ("wechat_jobs", "wechat_status", "not_reported", "result"))


def test_wechats_mass_statuses_and_the_failed_jobs_reasons_in_both_languages():
    assert mass_status_label("err(40001)", "zh") == "err(40001): 管理员拒绝了群发（API 群发保护）"
    assert mass_status_label("err(40002)", "en") == (
        "err(40002): no administrator confirmed the send within 30 minutes, API 群发保护"
    )
    assert mass_status_label("send fail", "zh") == "send fail: 发送失败"
    assert mass_status_label("err(99999)", "zh") == "err(99999)"  # not one WeChat documents: as it came
    reasons = [verdict.MASS_REFUSED_BY_ADMIN, verdict.MASS_NOT_CONFIRMED, verdict.MASS_CONTENT_REFUSED]
    for reason in [*reasons, verdict.MASS_JOB_FAILED]:
        assert reason in REASONS_ZH and "_" not in reason_label(reason, "en")
    assert reason_label(verdict.MASS_REFUSED_BY_ADMIN, "zh") == "管理员拒绝了群发（API 群发保护）"


def test_a_dry_run_reads_planned_never_sent():
    row = {
        "status": "dry_run",
        "dry_run": True,
        "counts": {"audience": 3100, "eligible": 3020, "status": {"planned": 3020, "excluded": 80}},
    }
    assert [(s["step"], s["count"], s["share"]) for s in funnel(row)] == [
        ("audience", 3100, 100.0),
        ("eligible", 3020, 97.4),
        ("planned", 3020, 97.4),
    ]
    assert (LABELS["en"]["planned"], LABELS["zh"]["planned"]) == ("planned", "计划发送")


def test_only_a_run_waiting_for_its_send_time_can_be_cancelled():
    scheduled = {"status": "scheduled", "scheduled_for": NOW + 3600}
    assert can_cancel(display_status(scheduled, "running", NOW))
    assert not can_cancel(display_status(scheduled, "success", NOW))  # cancelled already
    assert not can_cancel(display_status({**scheduled, "scheduled_for": NOW - 1}, "running", NOW))  # sending
    assert display_status({"status": "cancelled"}, "success", NOW) == "cancelled"


def test_every_kind_of_wechat_error_has_a_chinese_text():
    missing = {kind.reason for kind in errors._KINDS.values()} - set(ERRORS_ZH)
    assert not missing
    error = "send[0] failed: WeChat message/mass/sendall errcode 40007: invalid media_id rid: 6530f9c7-22efcc6d"
    assert error_text(error, "zh") == (
        "send[0] 步骤失败：微信接口 message/mass/sendall 返回错误码 40007：media_id 缺失、已过期或类型不对"
        "（rid: 6530f9c7-22efcc6d）"
    )
    assert error_text(error, "en") == error
    whitelisted = "validate failed: WeChat cgi-bin/tags/get errcode 40164: invalid ip 1.2.3.4 — add the address"
    assert "IP 白名单" in error_text(whitelisted, "zh") and "add the address" not in error_text(whitelisted, "zh")


def test_an_unknown_errcode_shows_the_code_and_wechats_text():
    error = "send[1] failed: WeChat message/custom/send errcode 12345: something new happened rid: ab12"
    assert error_text(error, "zh") == (
        "send[1] 步骤失败：微信接口 message/custom/send 返回错误码 12345：something new happened rid: ab12"
    )


def test_the_verdicts_sentences_in_chinese():
    assert error_text("cancelled before its send time", "zh") == "在发送时间前已取消"
    partial = "4 of 5 sent; 1 not sent: blocked ×1 (send[0] failed: WeChat message/template/send errcode -1: busy)"
    assert error_text(partial, "zh") == (
        "已发送 4/5；1 位未发送：拒收模板消息 1 (send[0] 步骤失败：微信接口 message/template/send 返回错误码 -1："
        "微信系统繁忙，稍后重试)"
    )
    assert error_text("resolve_audience did not finish (upstream_failed); its log in Airflow says why", "zh") == (
        "resolve_audience 未完成（upstream_failed），原因见 Airflow 中该步骤的日志"
    )


def test_fans_statuses_and_reasons_from_wechat_errors_in_chinese():
    for status in ("sent", "failed", "excluded", "unknown", "pending", "planned"):
        assert LABELS["zh"][status] != LABELS["en"][status]
    assert reason_label("invalid_media", "zh") == "media_id 缺失、已过期或类型不对"


def test_a_runs_content_and_audience_read_in_chinese_on_the_chinese_page():
    from wechat_campaigns.domain.spec import parse_campaign

    mass = parse_campaign({"message_type": "mass", "tag": "vip", "material": "text/welcome"}, NOW)
    fans = ["o" + "a" * 27, "o" + "b" * 27]
    conf = {"message_type": "template", "openids": fans, "template_id": "tmpl_a", "template_data": {"k": "v"}}
    template = parse_campaign(conf, NOW)
    said = {history_words(text, "zh") for text in (mass.content, mass.audience, template.content, template.audience)}
    assert said == {"素材 text/welcome", "标签：vip", "模板 tmpl_a", "openid 列表：2"}
    assert history_words("all followers", "zh") == "全部关注者"
    assert history_words(mass.audience, "en") == "tag: vip"
    assert reason_label("blocked", "en") == "blocks template messages"
