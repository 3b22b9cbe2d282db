"""What the Sent page (已发送) shows of a run: its state, its funnel and its reasons.

Pure functions over the history row (and, for a run still in progress, the ledger's live counts), shared by
the HTML pages and the JSON API.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..domain import verdict

# Airflow run states that mean a run will not send any more: the Sent page's Cancel sets a scheduled run
# to success (Airflow has no cancelled state, and failed would count as a failure); failed is how it was
# cancelled from Airflow's own UI before.
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


def can_cancel(display: str) -> bool:
    """Only a run still waiting for its send time can be cancelled: after it, fans may already have it."""
    return display == "scheduled"


def cancelled(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Who cancelled the run on the Sent page, and when (epoch seconds), if someone did."""
    found = (row.get("counts") or {}).get("cancelled")
    return dict(found) if isinstance(found, Mapping) else None


def cancel_note(user: str, at: str) -> str:
    """The Airflow run's note: Airflow shows the cancelled run as success, and this says why."""
    return f"Cancelled by {user} at {at} (Beijing time) on the Sent page, before its send time: nothing was sent."


def is_dry_run(row: Mapping[str, Any]) -> bool:
    return bool(row.get("dry_run")) or row.get("status") == "dry_run"


def funnel(row: Mapping[str, Any], live: Mapping[str, int] | None = None, delivered: int | None = None) -> list[dict]:
    """audience → eligible → sent → delivered, each with its share of the audience; a dry run sent nothing,
    so its funnel ends with the fans it planned (audience → eligible → planned)."""
    counts = row.get("counts") or {}
    by_status = dict(counts.get("status") or live or {})
    audience = counts.get("audience", sum(by_status.values()))
    eligible = counts.get("eligible", sum(n for s, n in by_status.items() if s != "excluded"))
    if is_dry_run(row):
        steps = [("audience", audience), ("eligible", eligible), ("planned", by_status.get("planned", 0))]
    else:
        report = row.get("wechat_report") or {}
        if delivered is None and report.get("jobs_reported"):
            delivered = report.get("sent")
        steps = [
            ("audience", audience),
            ("eligible", eligible),
            ("sent", by_status.get("sent", 0)),
            ("delivered", delivered),
        ]
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
