"""The *send* step: one slice of a run's batches, with the delivery guarantees of docs/architecture.md, *Guarantees*.

- A batch's fans are marked ``sending`` (committed) before any call; outcomes are written in bulk after.
- Template sends carry a per-fan ``client_msg_id``: a retry within WeChat's 10-minute window is de-duplicated
  by WeChat; a ``sending`` row older than that becomes ``unknown`` instead of being sent again.
- Customer-service sends have no platform de-duplication: a ``sending`` row found by a retry, or a call that
  got no answer, becomes ``unknown`` and is re-sent only when the conf says ``resend_unknown``.
- Mass sends carry a per-batch ``clientmsgid``; a retried call gets 45065 with the original msg_id.

One module per way of sending: ``per_fan`` (template, customer service), ``mass`` (``mass/send`` and
``sendall``), ``preview`` (``mass/preview``), ``dry_run`` (render and plan, send nothing); ``messages`` (what
each fan is sent) and ``answers`` (what WeChat's answers mean for the run) are shared by them.
"""

from __future__ import annotations

from collections import Counter

from ...domain.plan import SendSlice, owns
from ...store import history, ledger
from ...store.ledger import Outcome
from ..content import Content
from ..run import CampaignRun
from .answers import CampaignStopped, TransientFailure
from .dry_run import dry_run_slice
from .mass import ToEveryone, ToOpenids, send_mass_job
from .per_fan import PerFanSends
from .preview import preview_batch

__all__ = ["CampaignStopped", "TransientFailure", "run_content", "send_slice"]


def run_content(run: CampaignRun) -> Content:
    """What the run sends, as the plan step built it (media uploaded, ids on the history row)."""
    row = history.get_run(run.engine, run.run_key) or {}
    return Content.for_run(run.spec, row.get("message"))


def send_slice(run: CampaignRun, content: Content, send_slice: SendSlice) -> dict[str, int]:
    """Send every batch this slice owns. Raises QuotaWait, CampaignStopped or TransientFailure."""
    if run.spec.dry_run:
        return dry_run_slice(run, content, send_slice)
    if send_slice.mode in ("mass_tag", "mass_all"):  # one sendall: every fan of the run in one job
        return send_mass_job(run, content, ToEveryone(run, send_slice.mode))
    batches = [
        b for b in sorted(ledger.batch_numbers(run.engine, run.run_key)) if owns(send_slice.index, send_slice.count, b)
    ]
    if send_slice.mode == "per_fan":
        return _count_outcomes(PerFanSends(run, content).send(batches))
    done: Counter[str] = Counter()
    for batch_no in batches:
        if send_slice.mode == "preview":
            outcomes = preview_batch(run, content, batch_no)
        else:
            outcomes = send_mass_job(run, content, ToOpenids(run, batch_no))
        done.update(_count_outcomes(outcomes))
    return dict(done)


def _count_outcomes(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(outcome.status for outcome in outcomes))
