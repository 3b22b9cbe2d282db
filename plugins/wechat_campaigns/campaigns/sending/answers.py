"""What WeChat's answers mean for the run, beyond each fan's outcome: stop the campaign, wait for the next
quota day, or leave the rest to the task's retry. Shared by the per-fan sends, the preview and the mass jobs."""

from __future__ import annotations

from dataclasses import dataclass

from ...domain.clock import next_midnight
from ...domain.errors import Action, WeChatError
from ...store import quotas
from ...store.ledger import FAILED, PENDING, Outcome
from ..run import CampaignRun, QuotaWait


class CampaignStopped(Exception):
    """WeChat refused the content or the account (not a fan's own problem): retrying will not help."""


class TransientFailure(Exception):
    """WeChat stayed busy or silent past the client's retries; the task's retry picks up where this stopped."""


@dataclass
class Signals:
    """What one wave's answers told, beyond each fan's outcome."""

    stop: WeChatError | None = None
    quota: bool = False
    transient: Exception | None = None
    calls: int = 0

    def halted(self) -> bool:
        return self.stop is not None or self.quota


def error_outcome(exc: WeChatError, openid: str, signals: Signals) -> Outcome:
    """The fan's outcome for WeChat's error, noting in ``signals`` what it means for the rest of the run."""
    action = exc.action
    if action is Action.RECIPIENT:
        return Outcome(openid, FAILED, exc.reason, exc.errcode)
    if action is Action.WAIT_QUOTA:
        signals.quota = True
        return Outcome(openid, PENDING)
    if action in (Action.RETRY, Action.REFRESH_TOKEN):
        signals.transient = exc
        return Outcome(openid, PENDING)
    signals.stop = signals.stop or exc
    return Outcome(openid, FAILED, exc.reason, exc.errcode)


def stop_wait_or_retry(run: CampaignRun, signals: Signals) -> None:
    """Raise what the signals call for; the caller has written the outcomes first. A used-up quota is counted
    as used up, and the run waits for the next Beijing day only when it is to continue then."""
    if signals.stop is not None:
        raise CampaignStopped(str(signals.stop)) from signals.stop
    if signals.quota:
        quotas.use_up(run.engine, run.appid, run.api, run.now(), run.daily_quota or 0)
        if not run.spec.continue_next_day:
            return
        raise QuotaWait(next_midnight(run.now()))
    if signals.transient is not None:
        raise TransientFailure(str(signals.transient)) from signals.transient
