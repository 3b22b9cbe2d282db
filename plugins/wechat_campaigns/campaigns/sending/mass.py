"""Mass jobs, exactly once whatever their target: one batch's openids (``mass/send``) or a tag or all
followers (``sendall``). Each target says how its fans move in the ledger; the job's protocol is the same."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, NoReturn

from ...domain.account import AccountType
from ...domain.clock import month_start, next_midnight
from ...domain.eligibility import to_all_wait, when_mass_quota_returns
from ...domain.errors import Action, WeChatError, WeChatTransportError
from ...domain.plan import clientmsgid
from ...store import history, ledger, media, quotas, reports
from ...store.fans import add_receipts, add_run_receipts, tag_ids
from ...store.ledger import FAILED, PENDING, SENDING, SENT, Outcome
from ..content import Content
from ..run import CampaignRun, QuotaWait
from .answers import CampaignStopped, TransientFailure


class ToOpenids:
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


class ToEveryone:
    """A ``sendall`` job to a tag or to all followers: it covers every fan of the run, so the ledger moves in
    single statements, without loading the fans (a million-fan tag costs the worker seconds and no memory)."""

    batch_no = 0

    def __init__(self, run: CampaignRun, mode: str):
        self.run, self.mode = run, mode
        self.to_all = mode == "mass_all"
        self.size = ledger.count_in(run.engine, run.run_key, [PENDING, SENDING])
        self.nothing: dict[str, int] = {}

    def mark_sending(self, connection: Any) -> None:
        ledger.move_all(connection, self.run.run_key, [PENDING], Outcome("", SENDING))

    def send(self, message: Any, msgid: str) -> Any:
        run, tag_id = self.run, None  # None: all followers
        if self.mode == "mass_tag":
            if run.spec.tag is None:  # never to everyone by mistake
                raise ValueError("a mass send to a tag needs the tag")
            tag_id = tag_ids(run.engine, run.appid)[run.spec.tag]
        return run.client.send_mass_to_tag(tag_id, message, clientmsgid=msgid)

    def mark_sent(self, connection: Any, msg_id: str) -> dict[str, int]:
        run = self.run
        sent = ledger.move_all(connection, run.run_key, [PENDING, SENDING], Outcome("", SENT, msg_id=msg_id))
        add_run_receipts(connection, run.appid, run.run_key, msg_id, _receipt_key(run, 0))
        return {SENT: sent}

    def settle(self, outcome: Outcome) -> None:
        with self.run.engine.begin() as connection:
            ledger.move_all(connection, self.run.run_key, [SENDING], outcome)


def send_mass_job(run: CampaignRun, content: Content, target: ToOpenids | ToEveryone) -> Any:
    """One mass job, whatever its target, exactly once: its clientmsgid is fixed by the run and the batch, so
    a retry after a lost answer is the same job to WeChat (45065 hands back its msg_id)."""
    if not target.size:
        return target.nothing
    job = history.mass_job(run.engine, run.run_key, target.batch_no)
    if job and job["msg_id"]:  # WeChat accepted it before the last attempt could write it down
        return _mass_accepted(run, target, job["msg_id"], count_call=False, content=content)
    if run.room_today() == 0:
        raise QuotaWait(next_midnight(run.now()))
    if isinstance(target, ToEveryone) and target.to_all:
        today, this_month = _sends_to_all(run)
        wait = to_all_wait(run.now(), today, this_month, run.settings.to_all_once_a_day)
        if wait is not None:
            raise QuotaWait(*wait)
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
            to_all=isinstance(target, ToEveryone) and target.to_all,
        )
    try:
        result = target.send(content.for_fan(), msgid)
    except WeChatError as exc:
        _mass_refused(run, exc, target)
    except WeChatTransportError as exc:
        raise TransientFailure(str(exc)) from exc  # rows stay sending; the retry reuses the clientmsgid
    return _mass_accepted(run, target, str(result.msg_id), count_call=not result.already_sent, content=content)


def _mass_accepted(
    run: CampaignRun, target: ToOpenids | ToEveryone, msg_id: str, count_call: bool, content: Content
) -> Any:
    msgid = clientmsgid(run.run_key, target.batch_no)
    with run.engine.begin() as connection:
        done = target.mark_sent(connection, msg_id)
        history.save_mass_job(connection, run.run_key, target.batch_no, clientmsgid=msgid, msg_id=msg_id)
        quotas.add(connection, run.appid, run.api, run.now(), 1 if count_call else 0)
    if isinstance(target, ToEveryone) and target.to_all:  # WeChat deletes the draft sent to all followers
        draft = ((content.message or {}).get("mpnews") or {}).get("media_id")
        if draft:
            media.forget_media_id(run.engine, run.appid, draft)
    reports.catch_up_mass_report(run.engine, run.appid, msg_id)
    return done


def _sends_to_all(run: CampaignRun) -> tuple[int, int]:
    """The account's sends to all followers today and this month, Beijing calendar (ours)."""
    now = run.now()
    today = history.mass_sends_since(run.engine, run.appid, next_midnight(now).timestamp() - 86_400, to_all=True)
    month = history.mass_sends_since(run.engine, run.appid, month_start(now).timestamp(), to_all=True)
    return today, month


def _receipt_key(run: CampaignRun, batch_no: int) -> str:
    return f"{run.run_key}#{batch_no}"[-96:]


def _mass_refused(run: CampaignRun, exc: WeChatError, target: ToOpenids | ToEveryone) -> NoReturn:
    """WeChat refused the job: its fans wait for tomorrow's quota, are tried again, or fail."""
    if exc.action is Action.WAIT_QUOTA:
        target.settle(Outcome("", PENDING))
        if exc.errcode == 45009:
            quotas.use_up(run.engine, run.appid, run.api, run.now(), run.daily_quota or 0)
            raise QuotaWait(next_midnight(run.now())) from exc
        to_all = isinstance(target, ToEveryone) and target.to_all
        subscription = run.settings.account_type is AccountType.SUBSCRIPTION
        until = when_mass_quota_returns(run.now(), subscription, to_all, run.settings.to_all_once_a_day)
        raise QuotaWait(until, f"WeChat has no mass-send quota left ({exc.errcode})") from exc
    if exc.action in (Action.RETRY, Action.REFRESH_TOKEN):
        raise TransientFailure(str(exc)) from exc  # same clientmsgid on retry
    target.settle(Outcome("", FAILED, exc.reason, exc.errcode))
    raise CampaignStopped(str(exc)) from exc
