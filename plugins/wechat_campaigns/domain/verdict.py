"""A sent run's verdict — completed, partial or failed — from its ledger's counts and WeChat's mass-job reports.

WeChat accepts a mass job (``send job submission success``) and reports later, in ``MASSSENDJOBFINISH``,
what became of it: ``Status`` ``send success``, ``send fail`` or ``err(N)`` (``err(40001)``: the
administrator refused it under API 群发保护, ``err(40002)``: nobody confirmed it within 30 minutes), and its
``SentCount`` and ``ErrorCount``. A job that reached nobody fails its fans; one with errors but some sent
makes the run partial. The report may come before the run's verdict is written (write_history, in
campaigns/summary.py) or after it (store/reports.py): both give this module the same counts and jobs, so the
verdict is the same whichever comes first.

A job is a mapping as the store keeps it: ``msg_id``, ``wechat_status``, ``total_count``, ``filter_count``,
``sent_count``, ``error_count``, ``finished_at`` (None until WeChat reported it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .eligibility import Reason
from .errors import RECIPIENT_REASONS

COMPLETED, PARTIAL, FAILED = "completed", "partial", "failed"
VERDICTS = frozenset({COMPLETED, PARTIAL, FAILED})  # the verdicts a report that comes later may correct
UNFINISHED = "send task failed or stopped"  # fans still pending or sending when the run ended
SEND_SUCCESS = "send success"

# Reasons that are the fan's own business: a run whose only failures are these still did its job.
_FAN_REASONS = {reason.value for reason in Reason} | RECIPIENT_REASONS
_ERR = re.compile(r"err\((-?\d+)\)")

# What WeChat's err(N) statuses of MASSSENDJOBFINISH mean, as its documentation lists them.
MASS_ERRORS = {
    10001: "content review: advertising",
    20001: "content review: politics",
    20002: "content review: pornography",
    20004: "content review: social",
    20006: "content review: crime",
    20008: "content review: fraud",
    20013: "content review: copyright",
    21000: "content review: other",
    22000: "content review: mutual promotion",
    30001: "originality check: system error",
    30002: "originality check: judged not sendable",
    30003: "originality check: judged a reprint, set to stop",
    40001: "the administrator refused the send, API 群发保护",
    40002: "no administrator confirmed the send within 30 minutes, API 群发保护",
}
# The ledger's reason for the fans of a job that reached nobody, by err(N); any other failure is mass_job_failed.
MASS_REFUSED_BY_ADMIN, MASS_NOT_CONFIRMED = "mass_refused_by_admin", "mass_not_confirmed"
MASS_CONTENT_REFUSED, MASS_JOB_FAILED = "mass_content_refused", "mass_job_failed"
_REASON_OF_ERR = {40001: MASS_REFUSED_BY_ADMIN, 40002: MASS_NOT_CONFIRMED}


def err_code(status: str | None) -> int | None:
    """N of a status ``err(N)``."""
    found = _ERR.fullmatch(status or "")
    return int(found.group(1)) if found else None


def is_failure(status: str | None) -> bool:
    """WeChat said the job failed: ``send fail`` or ``err(N)``."""
    return status == "send fail" or (status or "").startswith("err(")


def job_outcome(status: str | None, sent: int | None, error: int | None) -> str | None:
    """What a reported job means for the run: FAILED (it reached nobody), PARTIAL (some of its fans, not all),
    or None (it did its job; fans WeChat filtered out, say for their month's 4, are their own business)."""
    if not (is_failure(status) or (error or 0) > 0):
        return None
    return PARTIAL if sent else FAILED


def failed_reason(status: str | None) -> str:
    """The ledger's reason for the fans of a job that reached nobody."""
    code = err_code(status)
    if code in _REASON_OF_ERR:
        return _REASON_OF_ERR[code]
    if code is not None and 10000 <= code < 30000:
        return MASS_CONTENT_REFUSED
    return MASS_JOB_FAILED


def job_problem(job: Mapping[str, Any]) -> str | None:
    """What WeChat reported of a job that failed or partly failed, with its counts (None: it did its job, or it
    is not reported yet)."""
    if job.get("finished_at") is None:
        return None
    status, sent, error = job.get("wechat_status"), job.get("sent_count"), job.get("error_count")
    if job_outcome(status, sent, error) is None:
        return None
    said = status or "no status"
    meaning = MASS_ERRORS.get(err_code(status) or 0)
    if meaning:
        said += f" ({meaning})"
    elif error and not is_failure(status):
        said += " with errors"
    counts = f"{_n(sent)} of {_n(job.get('filter_count'))} sent, {_n(error)} failed"
    total = job.get("total_count")
    if total is not None and total != job.get("filter_count"):
        counts += f" ({_n(total)} targeted)"
    return f"WeChat reported mass job {job.get('msg_id')} {said}: {counts}"


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def of_run(
    by_status: Mapping[str, int],
    by_reason: Mapping[str, int],
    jobs: Iterable[Mapping[str, Any]] = (),
    send_error: str | None = None,
) -> tuple[str, str | None]:
    """The verdict of a run that sent (not a dry run), and what went wrong: counts by status and by reason as
    the ledger has them (the fans of a job that reached nobody are failed with its reason), the run's mass jobs,
    and the error the last failed send task recorded."""
    not_sent = not_sent_by_reason(by_status, by_reason)
    problems = []
    sent = by_status.get("sent", 0)
    if not_sent:
        eligible = sum(n for status, n in by_status.items() if status != "excluded")
        why = ", ".join(f"{reason} ×{n}" for reason, n in not_sent.items())
        problem = f"{sent:,} of {eligible:,} sent; {sum(not_sent.values()):,} not sent: {why}"
        if send_error:
            problem += f" ({send_error})"
        problems.append(problem)
    problems += [said for job in jobs if (said := job_problem(job))]
    if not problems:
        return COMPLETED, None
    return (PARTIAL if sent else FAILED), "; ".join(problems)


def not_sent_by_reason(by_status: Mapping[str, int], by_reason: Mapping[str, int]) -> dict[str, int]:
    """Fans not sent for reasons that are not their own (WeChat refused the content or the job, a send task
    failed)."""
    not_sent = {
        key.removeprefix("failed:"): n
        for key, n in sorted(by_reason.items())
        if key.startswith("failed:") and key.removeprefix("failed:") not in _FAN_REASONS
    }
    unfinished = by_status.get("pending", 0) + by_status.get("sending", 0)
    if unfinished:
        not_sent[UNFINISHED] = unfinished
    return not_sent
