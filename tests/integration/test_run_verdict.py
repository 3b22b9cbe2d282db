"""The history's verdict on a run (write_history), from the ledger and from the step that stopped it, without
Airflow: the DAG runs of tests/e2e/test_run_outcomes.py cover the same through the tasks."""

from __future__ import annotations

import pytest

from wechat_campaigns.campaigns import summary
from wechat_campaigns.campaigns.run import CampaignRun, utcnow
from wechat_campaigns.domain.account import AccountSettings
from wechat_campaigns.domain.spec import parse_campaign
from wechat_campaigns.store import history, ledger

FANS = [f"oVerdictFan{i:017d}" for i in range(4)]


@pytest.fixture
def run(store_url) -> CampaignRun:
    conf = {"message_type": "mass", "tag": "vip", "text": "hi", "name": "Winter menu"}
    spec = parse_campaign(conf, utcnow())
    return CampaignRun("wechat_campaign/manual__1", spec, AccountSettings(appid="wx1"), store_url, make_client=None)


def verdict(run: CampaignRun, stopped: summary.Stopped | None = None) -> tuple[str, str | None]:
    try:
        summary.write_history(run, None, stopped)
    except summary.RunFailed as exc:
        assert str(exc) == history.get_run(run.engine, run.run_key)["error"]
    row = history.get_run(run.engine, run.run_key)
    return row["status"], row["error"]


def test_a_retried_step_that_succeeded_leaves_no_error(run):
    ledger.add_recipients(run.engine, run.run_key, FANS)
    ledger.record(run.engine, run.run_key, [ledger.Outcome(fan, ledger.SENT) for fan in FANS])
    history.save_run(run.engine, run.run_key, status="sending", error="validate failed: WeChat did not answer")
    assert verdict(run) == ("completed", None)


def test_a_step_that_stopped_the_run_is_named_with_its_own_error_only(run):
    history.save_run(run.engine, run.run_key, status="sending", error="validate failed: WeChat did not answer")
    assert verdict(run, summary.Stopped("validate", "failed")) == ("failed", "validate failed: WeChat did not answer")
    stale = verdict(run, summary.Stopped("resolve_audience", "failed"))  # killed: it recorded nothing
    assert stale == ("failed", "resolve_audience did not finish (failed); its log in Airflow says why")


def test_a_run_validate_never_opened_is_described(run):
    assert verdict(run, summary.Stopped("validate", "failed"))[0] == "failed"
    row = history.get_run(run.engine, run.run_key)
    assert (row["name"], row["kind"], row["audience"]) == ("Winter menu", "mass", "tag: vip")


def test_a_scheduled_run_stopped_while_waiting_is_cancelled(run):
    history.save_run(run.engine, run.run_key, status="scheduled")
    assert verdict(run, summary.Stopped("wait_until_send_time", "failed"))[0] == "cancelled"


def test_partial_and_failed_sends_give_counts_and_the_send_tasks_error(run):
    ledger.add_recipients(run.engine, run.run_key, FANS)
    outcomes = [ledger.Outcome(FANS[0], ledger.SENT), ledger.Outcome(FANS[1], ledger.FAILED, "blocked", 43101)]
    outcomes.append(ledger.Outcome(FANS[2], ledger.FAILED, "invalid_media", 40007))
    ledger.record(run.engine, run.run_key, outcomes)
    history.save_run(run.engine, run.run_key, status="sending", error="send[1] failed: WeChat errcode 40007")
    assert verdict(run) == (
        "partial",
        "1 of 4 sent; 2 not sent: invalid_media ×1, send task failed or stopped ×1 "
        "(send[1] failed: WeChat errcode 40007)",
    )
    ledger.record(run.engine, run.run_key, [ledger.Outcome(FANS[0], ledger.FAILED, "invalid_media", 40007)])
    status, error = verdict(run)
    assert status == "failed" and error.startswith("0 of 4 sent; 3 not sent: invalid_media ×2")
