"""A run's verdict from its ledger's counts and WeChat's mass-job reports (domain/verdict.py)."""

from __future__ import annotations

import pytest

from wechat_campaigns.domain import verdict


def job(status: str | None, sent: int | None, error: int | None, filtered: int = 6, total: int = 6, **more):
    return {
        "msg_id": "1000",
        "wechat_status": status,
        "total_count": total,
        "filter_count": filtered,
        "sent_count": sent,
        "error_count": error,
        "finished_at": 1.0,
        **more,
    }


@pytest.mark.parametrize(
    ("status", "sent", "error", "outcome"),
    [
        ("send success", 6, 0, None),
        ("send success", 0, 0, None),  # all filtered out (their month's 4): the fans' own business
        ("send success", 4, 2, verdict.PARTIAL),
        ("send success", 0, 6, verdict.FAILED),
        ("send fail", 0, 6, verdict.FAILED),
        ("send fail", None, None, verdict.FAILED),  # counts missing: nothing reported sent
        ("send fail", 3, 3, verdict.PARTIAL),
        ("err(40001)", 0, 6, verdict.FAILED),
        ("err(40002)", 0, 0, verdict.FAILED),
        ("err(20001)", 2, 4, verdict.PARTIAL),
    ],
)
def test_what_a_reported_job_means_for_the_run(status, sent, error, outcome):
    assert verdict.job_outcome(status, sent, error) == outcome


def test_the_fans_of_a_job_that_reached_nobody_are_failed_with_a_reason_naming_why():
    assert verdict.failed_reason("err(40001)") == "mass_refused_by_admin"
    assert verdict.failed_reason("err(40002)") == "mass_not_confirmed"
    assert verdict.failed_reason("err(20001)") == verdict.failed_reason("err(10001)") == "mass_content_refused"
    assert verdict.failed_reason("send fail") == verdict.failed_reason("err(30002)") == "mass_job_failed"
    assert verdict.failed_reason("send success") == "mass_job_failed"  # every fan an error
    assert all(len(reason) <= 32 for reason in (verdict.MASS_REFUSED_BY_ADMIN, verdict.MASS_NOT_CONFIRMED))


def test_a_job_reported_failed_or_with_errors_is_named_with_wechats_status_and_counts():
    assert verdict.job_problem(job("send success", 6, 0)) is None
    assert verdict.job_problem(job("err(40001)", 0, 6, finished_at=None)) is None  # not reported yet
    assert verdict.job_problem(job("err(40001)", 0, 6)) == (
        "WeChat reported mass job 1000 err(40001) (the administrator refused the send, API 群发保护): "
        "0 of 6 sent, 6 failed"
    )
    assert verdict.job_problem(job("send success", 4, 2, total=7)) == (
        "WeChat reported mass job 1000 send success with errors: 4 of 6 sent, 2 failed (7 targeted)"
    )
    assert (
        verdict.job_problem(job("send fail", None, None))
        == "WeChat reported mass job 1000 send fail: ? of 6 sent, ? failed"
    )


def test_the_runs_verdict_adds_wechats_reports_to_the_ledgers_counts():
    assert verdict.of_run({"sent": 6}, {}, [job("send success", 6, 0)]) == ("completed", None)
    assert verdict.of_run({"sent": 6}, {}, [job("send success", 4, 2)])[0] == "partial"
    failed = verdict.of_run({"failed": 6}, {"failed:mass_refused_by_admin": 6}, [job("err(40001)", 0, 6)])
    assert failed[0] == "failed"
    assert failed[1].startswith(
        "0 of 6 sent; 6 not sent: mass_refused_by_admin ×6; WeChat reported mass job 1000 err(40001)"
    )
    # two jobs, one refused: the other's fans were sent, so the run is partial
    two = [job("send success", 6, 0), {**job("err(40002)", 0, 6), "msg_id": "1001"}]
    status, error = verdict.of_run({"sent": 6, "failed": 6}, {"failed:mass_not_confirmed": 6}, two)
    assert status == "partial" and "mass job 1001 err(40002)" in error and "mass job 1000" not in error
    # a send task's error is kept, the fans' own reasons are not a problem
    assert verdict.of_run({"sent": 3, "failed": 1, "pending": 2}, {"failed:blocked": 1}, [], "send[1] failed: x") == (
        "partial",
        "3 of 6 sent; 2 not sent: send task failed or stopped ×2 (send[1] failed: x)",
    )
