"""The *write_history* step: one summary row per run, and whether the run as a whole succeeded."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from ..domain import verdict
from ..domain.spec import MessageKind
from ..store import history, ledger
from .run import CampaignRun
from .validation import describe

UNFINISHED = verdict.UNFINISHED  # fans still pending or sending when the run ended


class RunFailed(Exception):
    """Raised after the history is written, so that the Airflow run shows as failed."""


class Stopped(NamedTuple):
    """A step before sending that did not succeed, and its Airflow state (failed, skipped, ...)."""

    step: str
    state: str


def write_history(run: CampaignRun, audience: dict[str, Any] | None, stopped: Stopped | None = None) -> dict[str, Any]:
    """The run's verdict on its history row: completed, partial, failed or dry_run (a refusal stays rejected).
    Raises RunFailed after writing it unless the run did its job."""
    row = history.get_run(run.engine, run.run_key) or {}
    if row.get("status") == "rejected":
        raise RunFailed(f"campaign rejected: {row.get('error')}")
    send_error = _send_error(row)
    jobs = history.mass_jobs_of(run.engine, run.run_key)
    while True:  # once more if WeChat reported a job meanwhile: its report found the run not yet written
        by_status, by_reason = ledger.counts(run.engine, run.run_key)
        counts = _counts(by_status, by_reason, audience or {})
        if run.kind is MessageKind.CUSTOMER_SERVICE:  # the window rules that decided who was left out
            counts["cs_rules"] = run.cs_rules.name
        if send_error:  # kept for a mass report that comes later and gives the verdict again (store/reports.py)
            counts["send_error"] = send_error
        problem: str | None
        if stopped is not None:
            status, problem = _stopped_before_sending(row, stopped)
        else:
            status, problem = _verdict(run, by_status, by_reason, send_error, jobs)
        history.save_run(
            run.engine,
            run.run_key,
            status=status,
            counts=counts,
            msg_ids=[job["msg_id"] for job in jobs if job["msg_id"]],
            finished_at=time.time(),
            error=problem,
            **({} if row else describe(run)),  # validate died before it opened the row
        )
        jobs, before = history.mass_jobs_of(run.engine, run.run_key), jobs
        if _reported(jobs) == _reported(before):
            break
    if problem:
        raise RunFailed(problem)
    return {"status": status, **counts["status"]}


def _counts(by_status, by_reason, audience: dict[str, Any]) -> dict[str, Any]:
    reasons = dict(by_reason)
    if audience.get("duplicate"):
        reasons["excluded:duplicate"] = audience["duplicate"]
    eligible = sum(n for status, n in by_status.items() if status != ledger.EXCLUDED)
    return {
        "audience": audience.get("audience", sum(by_status.values())),
        "eligible": eligible,
        "status": dict(by_status),
        "reasons": reasons,
    }


def _stopped_before_sending(row: dict[str, Any], stopped: Stopped) -> tuple[str, str]:
    """Nothing was sent: say which step stopped the run, with the error it recorded when it failed."""
    if stopped.step == "wait_until_send_time" and row.get("status") == "scheduled":
        return "cancelled", "cancelled before its send time"  # marking the wait failed is how a marketer cancels
    recorded = row.get("error") or ""
    if recorded.startswith(f"{stopped.step} failed"):
        return "failed", recorded
    return "failed", f"{stopped.step} did not finish ({stopped.state}); its log in Airflow says why"


def _send_error(row: dict[str, Any]) -> str | None:
    """What the last failed send task said, if one recorded it (a stale error of an earlier step is dropped)."""
    error = row.get("error") or ""
    return error if error.startswith("send[") else None


def _verdict(run: CampaignRun, by_status, by_reason, send_error: str | None, jobs) -> tuple[str, str | None]:
    if run.spec.dry_run:
        leftover = by_status.get(ledger.PENDING, 0)
        return ("dry_run", None) if not leftover else ("failed", f"{leftover} fans were not planned")
    return verdict.of_run(by_status, by_reason, jobs, send_error)


def _reported(jobs: list[dict[str, Any]]) -> list[tuple]:
    """What WeChat reported of each job, as far as the verdict goes."""
    fields = ("msg_id", "wechat_status", "total_count", "filter_count", "sent_count", "error_count")
    return [tuple(job[name] for name in fields) for job in jobs]


def record_cancelled(engine: Any, run_key: str, by: str, at: float) -> None:
    """The history row of a scheduled run cancelled on the Sent page: cancelled, by whom and when. Its
    write_history never runs (Airflow skips the steps after the wait), so this is the run's summary."""
    # No audience counts: the audience was never resolved, so the list leaves them blank rather than 0.
    counts = {"cancelled": {"by": by, "at": at}}
    history.save_run(engine, run_key, status="cancelled", counts=counts, finished_at=at, error=None)
