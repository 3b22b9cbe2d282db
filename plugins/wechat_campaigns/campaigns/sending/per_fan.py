"""Per-fan sends, template and customer service: the fans of each batch in waves, each wave marked
``sending`` before its calls start and written back when they are answered."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ...domain.clock import next_midnight
from ...domain.eligibility import exclusion
from ...domain.errors import Action, WeChatError, WeChatTransportError
from ...domain.spec import MessageKind
from ...store import ledger, quotas, reports
from ...store.fans import fan_facts, mark_fans
from ...store.ledger import EXCLUDED, FAILED, PENDING, SENDING, SENT, UNKNOWN, Outcome
from ...wechat.api.template import TemplateSendResult
from ...wechat.transport import CallGroup, fewer_collections
from ..content import Content
from ..run import CampaignRun, QuotaWait
from .answers import Signals, error_outcome, stop_wait_or_retry
from .messages import fan_profiles, message_for

TEMPLATE_DEDUP_SECONDS = 9 * 60  # WeChat de-duplicates client_msg_id for 10 minutes; keep a margin
# A wave (this many fans per connection) is marked ``sending`` at once and written back after; two waves are
# under way at a time (one in flight, the next queued behind it). For customer-service messages those two are
# the most a killed worker can leave unknown, so they stay small; template sends carry a client_msg_id that
# WeChat de-duplicates, so their waves can be longer (fewer writes per fan).
WAVE_PER_CONNECTION = {MessageKind.TEMPLATE: 16, MessageKind.CUSTOMER_SERVICE: 2}

# What an API answer teaches us about a fan, kept for the next campaign's filter.
_LEARNT = {
    43004: {"subscribed": False},
    50005: {"subscribed": False},
    43101: {"blocks_templates": True},
    43019: {"blacklisted": True},
    48002: {"refuses_messages": True},
}


class PerFanSends:
    """A slice's template or customer-service sends, as a pipeline of waves. While one wave is in flight this
    thread writes the last wave's outcomes, reads the next batch, renders the next wave, marks it ``sending``
    and starts it, queued behind the one in flight: WeChat's connections never wait for the database."""

    def __init__(self, run: CampaignRun, content: Content):
        self.run, self.content = run, content
        self.group = CallGroup(run.settings.send_concurrency, _halts)
        self.unwritten_calls = 0  # calls started whose outcomes (and quota count) are not written yet
        self.quota_gone = False

    def send(self, batch_nos: list[int]) -> list[Outcome]:
        with fewer_collections():
            return self._send(batch_nos)

    def _send(self, batch_nos: list[int]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        waves = self._waves(batch_nos)
        current = None
        while True:
            try:
                wave = next(waves, None)
            except BaseException:
                if current is not None:
                    self._finish(*current)  # what was sent is written before the task waits or fails
                raise
            following = (wave, self._start(wave)) if wave is not None else None
            if current is not None:
                results, signals = self._finish(*current)
                outcomes += results
                if signals.halted() or signals.transient is not None:
                    if following is not None:
                        outcomes += self._finish(*following)[0]
                        following = None
                    stop_wait_or_retry(self.run, signals)  # raises, unless the quota is gone and the run is not to wait
            if wave is None:
                return outcomes
            current = following

    def _waves(self, batch_nos: list[int]) -> Iterator[_Wave]:
        run = self.run
        size = run.settings.send_concurrency * WAVE_PER_CONNECTION[run.kind]
        for batch_no in batch_nos:
            openids = _still_eligible(run, _recover(run, batch_no))
            room = run.room_today()
            if room is not None:
                room = max(0, room - self.unwritten_calls)
            now_openids, later = openids[:room], openids[room:]
            profiles = fan_profiles(run, self.content, now_openids)
            for start in range(0, len(now_openids), size):
                if self.quota_gone:
                    later = now_openids[start:] + later
                    break
                yield _prepare(run, self.content, profiles, now_openids[start : start + size])
            if later:
                _out_of_quota(run, later)

    def _start(self, wave: _Wave) -> Future[list[Any]]:
        run = self.run
        ledger.set_status(run.engine, run.run_key, wave.recipients, SENDING)
        self.unwritten_calls += len(wave.recipients)
        if run.kind is MessageKind.TEMPLATE:
            return run.client.start_template_sends(wave.messages, self.group)
        return run.client.start_custom_sends(wave.messages, self.group)

    def _finish(self, wave: _Wave, in_flight: Future[list[Any]]) -> tuple[list[Outcome], Signals]:
        signals = Signals()
        results = _outcomes(self.run, wave, in_flight.result(), signals)
        self.quota_gone = self.quota_gone or signals.quota
        if self.quota_gone and not self.run.spec.continue_next_day:  # what WeChat's quota left unsent stays out
            results = [_quota_exhausted(o) if o.status == PENDING else o for o in results]
        _write(self.run, results, signals.calls)
        self.unwritten_calls -= len(wave.recipients)
        return results, signals


def _quota_exhausted(outcome: Outcome) -> Outcome:
    return Outcome(outcome.openid, EXCLUDED, "quota_exhausted")


@dataclass
class _Wave:
    openids: list[str]
    messages: list[Any]  # a TemplateMessage or an (openid, message) pair for each recipient
    recipients: list[str]
    refused: dict[str, Outcome]  # fans whose message did not render or that WeChat would refuse: not sent


def _prepare(run: CampaignRun, content: Content, profiles: dict[str, dict[str, Any]], openids: list[str]) -> _Wave:
    wave = _Wave(openids, [], [], {})
    for openid in openids:
        message = message_for(run, content, profiles.get(openid) or {"openid": openid})
        if isinstance(message, str):
            wave.refused[openid] = Outcome(openid, FAILED, message)
        else:
            wave.messages.append(message)
            wave.recipients.append(openid)
    return wave


def _recover(run: CampaignRun, batch_no: int) -> list[str]:
    """The batch's fans still to send, after settling rows a killed or failed attempt left ``sending``."""
    statuses = [PENDING, SENDING] + ([UNKNOWN] if run.spec.resend_unknown else [])
    rows = ledger.batch_rows(run.engine, run.run_key, batch_no, statuses)
    now = time.time()
    give_up = []
    for row in rows:
        if row.status != SENDING or run.spec.resend_unknown:
            continue
        dedup_still_holds = run.kind is MessageKind.TEMPLATE and now - (row.updated_at or 0) < TEMPLATE_DEDUP_SECONDS
        if not dedup_still_holds:
            give_up.append(Outcome(row.openid, UNKNOWN, "interrupted"))
    ledger.record(run.engine, run.run_key, give_up)
    lost = {o.openid for o in give_up}
    return [row.openid for row in rows if row.openid not in lost]


def _still_eligible(run: CampaignRun, openids: list[str]) -> list[str]:
    """Re-check time-sensitive rules now (the 48 h window may have closed while the run waited)."""
    if run.spec.preview_openids or not openids:
        return openids
    now = run.now()
    facts = fan_facts(run.engine, run.appid, openids, run.kind, now)
    outcomes = []
    for openid in openids:
        reason = exclusion(run.kind, facts[openid], now, run.cs_rules)
        if reason is not None:
            outcomes.append(Outcome(openid, EXCLUDED, reason.value))
    ledger.record(run.engine, run.run_key, outcomes)
    gone = {o.openid for o in outcomes}
    return [openid for openid in openids if openid not in gone]


def _out_of_quota(run: CampaignRun, openids: list[str]) -> None:
    """Today's quota cannot take these fans: leave them out, or continue after Beijing midnight."""
    if not run.spec.continue_next_day:
        ledger.record(run.engine, run.run_key, [Outcome(o, EXCLUDED, "quota_exhausted") for o in openids])
        return
    raise QuotaWait(next_midnight(run.now()))


def _outcomes(run: CampaignRun, wave: _Wave, answers: list[Any], signals: Signals) -> list[Outcome]:
    """Each fan's outcome, in the wave's order."""
    outcome_of = dict(wave.refused)
    for openid, answer in zip(wave.recipients, answers, strict=True):
        outcome_of[openid] = _outcome(run, openid, answer, signals)
    return [outcome_of[openid] for openid in wave.openids]


def _halts(exc: WeChatError) -> bool:
    """Whether an error stops the slice's other sends: the content or account is refused, or quota is gone."""
    return exc.action not in (Action.RECIPIENT, Action.RETRY, Action.REFRESH_TOKEN)


def _outcome(run: CampaignRun, openid: str, answer: Any, signals: Signals) -> Outcome:
    if answer is None:
        return Outcome(openid, PENDING)  # not sent: the sends halted first
    signals.calls += 1
    if isinstance(answer, WeChatError):
        return error_outcome(answer, openid, signals)
    if isinstance(answer, WeChatTransportError):
        if run.kind is MessageKind.TEMPLATE:
            signals.transient = answer
            return Outcome(openid, SENDING)  # a retry inside the 10-minute window is de-duplicated
        return Outcome(openid, UNKNOWN, "no_answer")
    if isinstance(answer, TemplateSendResult):
        return Outcome(openid, SENT, msg_id=str(answer.msgid))
    return Outcome(openid, SENT)


def _write(run: CampaignRun, outcomes: Sequence[Outcome], calls: int) -> None:
    with run.engine.begin() as connection:
        ledger.record(run.engine, run.run_key, outcomes, connection=connection)
        quotas.add(connection, run.appid, run.api, run.now(), calls)
    msg_ids = [o.msg_id for o in outcomes if o.msg_id]
    if msg_ids:  # WeChat's reports often beat our own record of the send
        reports.catch_up_deliveries(run.engine, run.appid, run.run_key, msg_ids)
    for errcode, flags in _LEARNT.items():
        learnt = [o.openid for o in outcomes if o.errcode == errcode]
        if learnt:
            mark_fans(run.engine, run.appid, learnt, **flags)
