"""A mass preview: the message to each test fan through ``mass/preview``, one call a fan."""

from __future__ import annotations

from ...domain.errors import WeChatError
from ...store import ledger
from ...store.ledger import PENDING, SENDING, SENT, Outcome
from ..content import Content
from ..run import CampaignRun
from .answers import Signals, error_outcome, stop_wait_or_retry


def preview_batch(run: CampaignRun, content: Content, batch_no: int) -> list[Outcome]:
    """Mass previews go through mass/preview: they reach the test fan and count against no monthly cap."""
    openids = [row.openid for row in ledger.batch_rows(run.engine, run.run_key, batch_no, [PENDING, SENDING])]
    outcomes, signals = [], Signals()
    for openid in openids:
        try:
            signals.calls += 1
            msg_id = run.client.preview_mass(openid, content.for_fan())
            outcomes.append(Outcome(openid, SENT, msg_id=str(msg_id) if msg_id else None))
        except WeChatError as exc:
            outcomes.append(error_outcome(exc, openid, signals))
    with run.engine.begin() as connection:
        ledger.record(run.engine, run.run_key, outcomes, connection=connection)
    stop_wait_or_retry(run, signals)
    return outcomes
