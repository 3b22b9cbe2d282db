"""What the Sent page (已发送) shows of a run: its state, its funnel and its reasons.

Pure functions over the history row (and, for a run still in progress, the ledger's live counts), shared by
the HTML pages and the JSON API.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..domain import verdict

# Airflow run states that mean a run will not send any more (a marketer marked it failed to cancel it).
_STOPPED = {"failed", "success"}
# What a run's recipient shows, on the Sent page, in its JSON and CSV, and from the CLI.
RECIPIENT_FIELDS = ("openid", "status", "reason", "errcode", "msg_id", "delivery")
# WeChat's TEMPLATESENDJOBFINISH statuses other than success, as reasons a fan got no message.
_NOT_DELIVERED = {"failed:user block": "user_block", "failed: system failed": "system_failed"}


def display_status(row: Mapping[str, Any], airflow_state: str | None, now: float | None = None) -> str:
    """The run's state as a marketer reads it: scheduled (not sent yet), sending, completed, failed,
    rejected, dry_run, or cancelled (stopped in Airflow before it sent)."""
    now = now or time.time()
    status = row.get("status") or "sending"
    if status in ("scheduled", "sending") and airflow_state in _STOPPED:
        return "cancelled" if status == "scheduled" else "failed"
    if status == "scheduled" and (row.get("scheduled_for") or 0) <= now and airflow_state == "running":
        return "sending"
    return status


def funnel(row: Mapping[str, Any], live: Mapping[str, int] | None = None, delivered: int | None = None) -> list[dict]:
    """audience → eligible → sent → delivered, each with its share of the audience."""
    counts = row.get("counts") or {}
    by_status = dict(counts.get("status") or live or {})
    audience = counts.get("audience", sum(by_status.values()))
    eligible = counts.get("eligible", sum(n for s, n in by_status.items() if s != "excluded"))
    sent = by_status.get("sent", 0) or by_status.get("planned", 0)
    report = row.get("wechat_report") or {}
    if delivered is None and report.get("jobs_reported"):
        delivered = report.get("sent")
    steps = [("audience", audience), ("eligible", eligible), ("sent", sent), ("delivered", delivered)]
    return [
        {"step": step, "count": n, "share": round(100 * n / audience, 1) if audience and n is not None else None}
        for step, n in steps
    ]


def reasons(row: Mapping[str, Any], live: Mapping[str, int] | None = None) -> list[dict]:
    """Fans left out or refused, by reason, largest first."""
    counts = row.get("counts") or {}
    items = counts.get("reasons") or live or {}
    result = []
    for key, n in items.items():
        status, _, reason = key.partition(":")
        result.append({"status": status, "reason": reason, "count": n})
    return sorted(result, key=lambda item: -item["count"])


def delivery(reported: Mapping[str, int]) -> dict[str, Any]:
    """What WeChat's template reports said, by recipients: delivered, and not delivered by reason (a fan who
    refused templates after the send was accepted is ``user_block``). Unknown statuses count as ``other``."""
    not_delivered: dict[str, int] = {}
    for status, n in reported.items():
        if status != "success":
            reason = not_delivered_reason(status)
            not_delivered[reason] = not_delivered.get(reason, 0) + n
    return {"delivered": reported.get("success", 0), "not_delivered": not_delivered}


def not_delivered_reason(status: str) -> str:
    return _NOT_DELIVERED.get(status, "other")


def delivery_reasons(reported: Mapping[str, int]) -> list[dict]:
    """The not-delivered fans as rows of the Sent page's reasons table."""
    summary = delivery(reported)["not_delivered"]
    return [{"status": "not_delivered", "reason": reason, "count": n} for reason, n in summary.items()]


def recipient(row: Any) -> dict[str, Any]:
    """A ledger row as a recipient is shown."""
    return {name: getattr(row, name) for name in RECIPIENT_FIELDS}


def mass_jobs(jobs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A mass run's jobs as WeChat reported them (MASSSENDJOBFINISH): its status and counts, and what that
    means for the run: completed, partial (some of its fans failed), failed (it reached nobody), or
    not_reported (no report yet)."""
    shown = []
    for job in jobs:
        status, sent, error = job.get("wechat_status"), job.get("sent_count"), job.get("error_count")
        reported = job.get("finished_at") is not None
        outcome = verdict.job_outcome(status, sent, error) or verdict.COMPLETED
        shown.append(
            {
                "msg_id": job.get("msg_id"),
                "wechat_status": status,
                "total": job.get("total_count"),
                "filter": job.get("filter_count"),
                "sent": sent,
                "error": error,
                "result": outcome if reported else "not_reported",
            }
        )
    return shown
