"""The *send* step: one slice of a run's batches, with the delivery guarantees of docs/architecture.md, *Guarantees*.

- A batch's fans are marked ``sending`` (committed) before any call; outcomes are written in bulk after.
- Template sends carry a per-fan ``client_msg_id``: a retry within WeChat's 10-minute window is de-duplicated
  by WeChat; a ``sending`` row older than that becomes ``unknown`` instead of being sent again.
- Customer-service sends have no platform de-duplication: a ``sending`` row found by a retry, or a call that
  got no answer, becomes ``unknown`` and is re-sent only when the conf says ``resend_unknown``.
- Mass sends carry a per-batch ``clientmsgid``; a retried call gets 45065 with the original msg_id.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from ..domain.clock import next_midnight
from ..domain.eligibility import exclusion
from ..domain.errors import Action, WeChatError, WeChatTransportError
from ..domain.plan import SendSlice, clientmsgid, owns, template_client_msg_id
from ..domain.render import RenderError, TooLong
from ..domain.spec import MessageKind
from ..domain.templates import lint
from ..store import history, ledger, quotas, reports
from ..store.fans import add_receipts, add_run_receipts, fan_facts, mark_fans, profiles_for_render, tag_ids
from ..store.ledger import EXCLUDED, FAILED, PENDING, PLANNED, SENDING, SENT, UNKNOWN, Outcome
from ..wechat.client import TemplateMessage, TemplateSendResult
from ..wechat.fan_calls import CallGroup
from .content import Content
from .run import CampaignRun, QuotaWait

log = logging.getLogger(__name__)

TEMPLATE_DEDUP_SECONDS = 9 * 60  # WeChat de-duplicates client_msg_id for 10 minutes; keep a margin
DRY_RUN_CHUNK = 5_000
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


class CampaignStopped(Exception):
    """WeChat refused the content or the account (not a fan's own problem): retrying will not help."""


class TransientFailure(Exception):
    """WeChat stayed busy or silent past the client's retries; the task's retry picks up where this stopped."""


@dataclass
class _Signals:
    """What one wave's answers told, beyond each fan's outcome."""

    stop: WeChatError | None = None
    quota: bool = False
    transient: Exception | None = None
    calls: int = 0

    def halted(self) -> bool:
        return self.stop is not None or self.quota


def run_content(run: CampaignRun) -> Content:
    """What the run sends, as the plan step built it (media uploaded, ids on the history row)."""
    row = history.get_run(run.engine, run.run_key) or {}
    return Content.for_run(run.spec, row.get("message"))


def send_slice(run: CampaignRun, content: Content, send_slice: SendSlice) -> dict[str, int]:
    """Send every batch this slice owns. Raises QuotaWait, CampaignStopped or TransientFailure."""
    if run.spec.dry_run:
        return _dry_run_slice(run, content, send_slice)
    if send_slice.mode in ("mass_tag", "mass_all"):  # one sendall: every fan of the run in one job
        return _mass_job(run, content, _ToEveryone(run, send_slice.mode))
    batches = [
        b for b in sorted(ledger.batch_numbers(run.engine, run.run_key)) if owns(send_slice.index, send_slice.count, b)
    ]
    if send_slice.mode == "per_fan":
        return _count_outcomes(_PerFanSends(run, content).send(batches))
    done: Counter[str] = Counter()
    for batch_no in batches:
        if send_slice.mode == "preview":
            outcomes = _preview_batch(run, content, batch_no)
        else:
            outcomes = _mass_job(run, content, _ToOpenids(run, batch_no))
        done.update(_count_outcomes(outcomes))
    return dict(done)


# -- per fan: template and customer service ------------------------------------------------------------


class _PerFanSends:
    """A slice's template or customer-service sends, as a pipeline of waves. While one wave is in flight this
    thread writes the last wave's outcomes, reads the next batch, renders the next wave, marks it ``sending``
    and starts it, queued behind the one in flight: WeChat's connections never wait for the database."""

    def __init__(self, run: CampaignRun, content: Content):
        self.run, self.content = run, content
        self.group = CallGroup(run.settings.send_concurrency, _halts)
        self.unwritten_calls = 0  # calls started whose outcomes (and quota count) are not written yet
        self.quota_gone = False

    def send(self, batch_nos: list[int]) -> list[Outcome]:
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
                    _raise_for(self.run, signals)  # raises, unless the quota is gone and the run is not to wait
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
            profiles = _profiles(run, self.content, now_openids)
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

    def _finish(self, wave: _Wave, in_flight: Future[list[Any]]) -> tuple[list[Outcome], _Signals]:
        signals = _Signals()
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
        message = _message(run, content, profiles.get(openid) or {"openid": openid})
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
        reason = exclusion(run.kind, facts[openid], now)
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


def _outcomes(run: CampaignRun, wave: _Wave, answers: list[Any], signals: _Signals) -> list[Outcome]:
    """Each fan's outcome, in the wave's order."""
    outcome_of = dict(wave.refused)
    for openid, answer in zip(wave.recipients, answers, strict=True):
        outcome_of[openid] = _outcome(run, openid, answer, signals)
    return [outcome_of[openid] for openid in wave.openids]


def _message(run: CampaignRun, content: Content, fan: dict[str, Any]) -> Any:
    """What to send this fan, or why not: the message does not render, is longer than WeChat takes, or has a
    template value WeChat would refuse with 47003."""
    openid = fan["openid"]
    try:
        if run.kind is not MessageKind.TEMPLATE:
            return openid, content.for_fan(fan)
        data = content.template_data(fan)
    except TooLong as exc:
        log.warning("%s: %s", openid, exc)
        return "content_too_long"
    except RenderError as exc:
        log.warning("%s: %s", openid, exc)
        return "render_error"
    refusal = _lint_refusal(data, run.spec.template_strict)
    if refusal:
        return refusal
    client_msg_id = template_client_msg_id(run.run_key, openid)
    return TemplateMessage(openid, content.template_id or "", data, client_msg_id, content.url)


def _halts(exc: WeChatError) -> bool:
    """Whether an error stops the slice's other sends: the content or account is refused, or quota is gone."""
    return exc.action not in (Action.RECIPIENT, Action.RETRY, Action.REFRESH_TOKEN)


def _outcome(run: CampaignRun, openid: str, answer: Any, signals: _Signals) -> Outcome:
    if answer is None:
        return Outcome(openid, PENDING)  # not sent: the sends halted first
    signals.calls += 1
    if isinstance(answer, WeChatError):
        return _on_error(answer, openid, signals)
    if isinstance(answer, WeChatTransportError):
        if run.kind is MessageKind.TEMPLATE:
            signals.transient = answer
            return Outcome(openid, SENDING)  # a retry inside the 10-minute window is de-duplicated
        return Outcome(openid, UNKNOWN, "no_answer")
    if isinstance(answer, TemplateSendResult):
        return Outcome(openid, SENT, msg_id=str(answer.msgid))
    return Outcome(openid, SENT)


def _lint_refusal(data: dict[str, str], strict: bool) -> str | None:
    for finding in lint(data):
        if finding.severity == "refused":
            log.warning("template value refused before sending: %s", finding)
            return "invalid_template_value"
        if strict and finding.severity == "changed":
            return "template_lint"
    return None


def _on_error(exc: WeChatError, openid: str, signals: _Signals) -> Outcome:
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


def _raise_for(run: CampaignRun, signals: _Signals) -> None:
    if signals.stop is not None:
        raise CampaignStopped(str(signals.stop)) from signals.stop
    if signals.quota:
        quotas.use_up(run.engine, run.appid, run.api, run.now(), run.daily_quota or 0)
        if not run.spec.continue_next_day:
            return
        raise QuotaWait(next_midnight(run.now()))
    if signals.transient is not None:
        raise TransientFailure(str(signals.transient)) from signals.transient


# -- dry run and preview -------------------------------------------------------------------------------


def _dry_run_slice(run: CampaignRun, content: Content, part: SendSlice) -> dict[str, int]:
    """Render every fan's message (a broken attribute shows now, not on send day) and mark the fans planned,
    thousands at a time: a dry run of a million fans must not cost a million statements. A chunk's ledger
    update runs in the database while the next chunk renders here."""
    owner, done = (part.index, part.count), {PLANNED: 0, FAILED: 0}
    with ThreadPoolExecutor(max_workers=1) as writer:
        written = None
        for rows in ledger.iter_chunks(run.engine, run.run_key, PENDING, DRY_RUN_CHUNK, owner):
            failures = _render_chunk(run, content, [row.openid for row in rows])
            if written is not None:
                done[PLANNED] += written.result()
            written = writer.submit(_plan_chunk, run, failures, rows[0].position, rows[-1].position, owner)
            done[FAILED] += len(failures)
        if written is not None:
            done[PLANNED] += written.result()
    return done


def _render_chunk(run: CampaignRun, content: Content, openids: list[str]) -> list[Outcome]:
    """The fans whose message would not be sent, for the reason the send would give (a mass message is the
    same for all: checked at validate)."""
    if run.kind is MessageKind.MASS:
        return []
    profiles = _profiles(run, content, openids)
    failures = []
    for openid in openids:
        message = _message(run, content, profiles.get(openid) or {"openid": openid})
        if isinstance(message, str):
            failures.append(Outcome(openid, FAILED, message))
    return failures


def _plan_chunk(run: CampaignRun, failures: list[Outcome], first: int, last: int, owner: tuple[int, int]) -> int:
    ledger.record(run.engine, run.run_key, failures)
    return ledger.move_range(run.engine, run.run_key, first, last, owner, PENDING, PLANNED)


def _profiles(run: CampaignRun, content: Content, openids: list[str]) -> dict[str, dict[str, Any]]:
    """What the message needs to know of each fan; nothing to read when it uses only the openid."""
    if not content.variables - {"openid"}:
        return {}
    return profiles_for_render(run.engine, run.appid, openids, with_tags="tags" in content.variables)


def _preview_batch(run: CampaignRun, content: Content, batch_no: int) -> list[Outcome]:
    """Mass previews go through mass/preview: they reach the test fan and count against no monthly cap."""
    openids = [row.openid for row in ledger.batch_rows(run.engine, run.run_key, batch_no, [PENDING, SENDING])]
    outcomes, signals = [], _Signals()
    for openid in openids:
        try:
            signals.calls += 1
            msg_id = run.client.preview_mass(openid, content.for_fan())
            outcomes.append(Outcome(openid, SENT, msg_id=str(msg_id) if msg_id else None))
        except WeChatError as exc:
            outcomes.append(_on_error(exc, openid, signals))
    with run.engine.begin() as connection:
        ledger.record(run.engine, run.run_key, outcomes, connection=connection)
    _raise_for(run, signals)
    return outcomes


# -- mass --------------------------------------------------------------------------------------------------


def _count_outcomes(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(outcome.status for outcome in outcomes))


class _ToOpenids:
    """A mass job to one batch's openids (``mass/send``); its fans move row by row."""

    def __init__(self, run: CampaignRun, batch_no: int):
        self.run, self.batch_no = run, batch_no
        self.openids = [row.openid for row in ledger.batch_rows(run.engine, run.run_key, batch_no, [PENDING, SENDING])]
        self.size = len(self.openids)
        self.nothing: list[Outcome] = []

    def mark_sending(self, connection: Any) -> None:
        run = self.run
        ledger.record(run.engine, run.run_key, [Outcome(o, SENDING) for o in self.openids], connection=connection)

    def send(self, message: Any, msgid: str) -> Any:
        return self.run.client.send_mass_to_openids(self.openids, message, clientmsgid=msgid)

    def mark_sent(self, connection: Any, msg_id: str) -> list[Outcome]:
        run, outcomes, now = self.run, [Outcome(o, SENT, msg_id=msg_id) for o in self.openids], time.time()
        ledger.record(run.engine, run.run_key, outcomes, connection=connection)
        receipt = _receipt_key(run, self.batch_no)
        rows = [{"openid": o, "receipt_key": receipt, "received_at": now, "source": "campaign"} for o in self.openids]
        add_receipts(run.engine, run.appid, rows, connection=connection)
        return outcomes

    def settle(self, outcome: Outcome) -> None:
        ledger.record(self.run.engine, self.run.run_key, [replace(outcome, openid=o) for o in self.openids])


class _ToEveryone:
    """A ``sendall`` job to a tag or to all followers: it covers every fan of the run, so the ledger moves in
    single statements, without loading the fans (a million-fan tag costs the worker seconds and no memory)."""

    batch_no = 0

    def __init__(self, run: CampaignRun, mode: str):
        self.run, self.mode = run, mode
        self.size = ledger.count_in(run.engine, run.run_key, [PENDING, SENDING])
        self.nothing: dict[str, int] = {}

    def mark_sending(self, connection: Any) -> None:
        ledger.move_all(connection, self.run.run_key, [PENDING], Outcome("", SENDING))

    def send(self, message: Any, msgid: str) -> Any:
        run = self.run
        tag_id = tag_ids(run.engine, run.appid)[run.spec.tag] if self.mode == "mass_tag" else None  # else all
        return run.client.send_mass_to_tag(tag_id, message, clientmsgid=msgid)

    def mark_sent(self, connection: Any, msg_id: str) -> dict[str, int]:
        run = self.run
        sent = ledger.move_all(connection, run.run_key, [PENDING, SENDING], Outcome("", SENT, msg_id=msg_id))
        add_run_receipts(connection, run.appid, run.run_key, msg_id, _receipt_key(run, 0))
        return {SENT: sent}

    def settle(self, outcome: Outcome) -> None:
        with self.run.engine.begin() as connection:
            ledger.move_all(connection, self.run.run_key, [SENDING], outcome)


def _mass_job(run: CampaignRun, content: Content, target: _ToOpenids | _ToEveryone) -> Any:
    """One mass job, whatever its target, exactly once: its clientmsgid is fixed by the run and the batch, so
    a retry after a lost answer is the same job to WeChat (45065 hands back its msg_id)."""
    if not target.size:
        return target.nothing
    job = history.mass_job(run.engine, run.run_key, target.batch_no)
    if job and job["msg_id"]:  # WeChat accepted it before the last attempt could write it down
        return _mass_accepted(run, target, job["msg_id"], count_call=False)
    if run.room_today() == 0:
        raise QuotaWait(next_midnight(run.now()))
    msgid, submitted_at = clientmsgid(run.run_key, target.batch_no), time.time()
    with run.engine.begin() as connection:
        target.mark_sending(connection)
        history.save_mass_job(
            connection,
            run.run_key,
            target.batch_no,
            clientmsgid=msgid,
            recipients=target.size,
            submitted_at=submitted_at,
        )
    try:
        result = target.send(content.for_fan(), msgid)
    except WeChatError as exc:
        _mass_refused(run, exc, target)
    except WeChatTransportError as exc:
        raise TransientFailure(str(exc)) from exc  # rows stay sending; the retry reuses the clientmsgid
    return _mass_accepted(run, target, str(result.msg_id), count_call=not result.already_sent)


def _mass_accepted(run: CampaignRun, target: _ToOpenids | _ToEveryone, msg_id: str, count_call: bool) -> Any:
    msgid = clientmsgid(run.run_key, target.batch_no)
    with run.engine.begin() as connection:
        done = target.mark_sent(connection, msg_id)
        history.save_mass_job(connection, run.run_key, target.batch_no, clientmsgid=msgid, msg_id=msg_id)
        quotas.add(connection, run.appid, run.api, run.now(), 1 if count_call else 0)
    reports.catch_up_mass_report(run.engine, run.appid, msg_id)
    return done


def _receipt_key(run: CampaignRun, batch_no: int) -> str:
    return f"{run.run_key}#{batch_no}"[-96:]


def _mass_refused(run: CampaignRun, exc: WeChatError, target: _ToOpenids | _ToEveryone) -> NoReturn:
    """WeChat refused the job: its fans wait for tomorrow's quota, are tried again, or fail."""
    if exc.action is Action.WAIT_QUOTA:
        target.settle(Outcome("", PENDING))
        if exc.errcode == 45009:
            quotas.use_up(run.engine, run.appid, run.api, run.now(), run.daily_quota or 0)
        raise QuotaWait(next_midnight(run.now())) from exc
    if exc.action in (Action.RETRY, Action.REFRESH_TOKEN):
        raise TransientFailure(str(exc)) from exc  # same clientmsgid on retry
    target.settle(Outcome("", FAILED, exc.reason, exc.errcode))
    raise CampaignStopped(str(exc)) from exc
