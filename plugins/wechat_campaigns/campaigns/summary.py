"""The *write_history* step: one summary row per run, and whether the run as a whole succeeded."""

from __future__ import annotations

import time
from typing import Any

from ..domain.eligibility import Reason
from ..domain.errors import RECIPIENT_REASONS
from ..store import history, ledger
from .run import CampaignRun

# Reasons that are the fan's own business: a run whose only failures are these still did its job.
_FAN_REASONS = {reason.value for reason in Reason} | RECIPIENT_REASONS


class RunFailed(Exception):
    """Raised after the history is written, so that the Airflow run shows as failed."""


def write_history(run: CampaignRun, audience: dict[str, Any] | None) -> dict[str, Any]:
    row = history.get_run(run.engine, run.run_key) or {}
    if row.get("status") == "rejected":
        raise RunFailed(f"campaign rejected: {row.get('error')}")
    by_status, by_reason = ledger.counts(run.engine, run.run_key)
    counts = _counts(by_status, by_reason, audience or {})
    status, problem = _verdict(run, by_status, by_reason)
    jobs = history.mass_jobs_of(run.engine, run.run_key)
    history.save_run(
        run.engine,
        run.run_key,
        status=status,
        counts=counts,
        msg_ids=[job["msg_id"] for job in jobs if job["msg_id"]],
        finished_at=time.time(),
        error=problem,
    )
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


def _verdict(run: CampaignRun, by_status, by_reason) -> tuple[str, str | None]:
    if run.spec.dry_run:
        leftover = by_status.get(ledger.PENDING, 0)
        return ("dry_run", None) if not leftover else ("failed", f"{leftover} fans were not planned")
    unfinished = by_status.get(ledger.PENDING, 0) + by_status.get(ledger.SENDING, 0)
    not_fans_fault = {
        key: n
        for key, n in by_reason.items()
        if key.startswith("failed:") and key[len("failed:") :] not in _FAN_REASONS
    }
    problems = []
    if unfinished:
        problems.append(f"{unfinished} fans not sent (the send task failed or was stopped)")
    if not_fans_fault:
        problems.append("sends failed: " + ", ".join(f"{k[7:]} ×{n}" for k, n in sorted(not_fans_fault.items())))
    if problems:
        return "failed", "; ".join(problems)
    return "completed", None
