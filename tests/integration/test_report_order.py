"""Job-finish reports count whichever comes first: the report, or our record of the send it is about. On
both databases; on PostgreSQL also with reports and sends racing in threads, as a receiver and a send task do."""

from __future__ import annotations

import contextlib
import random
import threading

import pytest
import sqlalchemy as sa

from wechat_campaigns.campaigns import summary
from wechat_campaigns.campaigns.run import CampaignRun, utcnow
from wechat_campaigns.domain.account import AccountSettings
from wechat_campaigns.domain.spec import parse_campaign
from wechat_campaigns.inbound import REPLAYED, record_push, record_pushes
from wechat_campaigns.store import history, ledger, reports
from wechat_campaigns.store.db import engine_for
from wechat_campaigns.store.ledger import Outcome
from wechat_campaigns.store.schema import callback_events, fans, interactions
from wechat_campaigns.wechat.callbacks import Push, parse_xml

APPID, RUN = "wxreportorder000001", "wechat_campaign/manual__order"


def template_report(openid: str, msg_id: int, status: str = "success") -> bytes:
    return (
        f"<xml><FromUserName>{openid}</FromUserName><CreateTime>1764000000</CreateTime><MsgType>event</MsgType>"
        f"<Event>TEMPLATESENDJOBFINISH</Event><MsgID>{msg_id}</MsgID><Status>{status}</Status></xml>"
    ).encode()


def mass_report(msg_id: int, status: str = "send success", total: int = 10, filtered: int = 9, error: int = 0) -> bytes:
    return (
        f"<xml><FromUserName>mphelper</FromUserName><CreateTime>1764000000</CreateTime><MsgType>event</MsgType>"
        f"<Event>MASSSENDJOBFINISH</Event><MsgID>{msg_id}</MsgID><Status>{status}</Status>"
        f"<TotalCount>{total}</TotalCount><FilterCount>{filtered}</FilterCount>"
        f"<SentCount>{filtered - error}</SentCount><ErrorCount>{error}</ErrorCount></xml>"
    ).encode()


def message(openid: str, msg_id: int, content: str = "hi") -> bytes:
    return (
        f"<xml><FromUserName>{openid}</FromUserName><CreateTime>1764000000</CreateTime><MsgType>text</MsgType>"
        f"<Content>{content}</Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def follow(openid: str, event: str, at: int) -> bytes:
    return (
        f"<xml><FromUserName>{openid}</FromUserName><CreateTime>{at}</CreateTime><MsgType>event</MsgType>"
        f"<Event>{event}</Event></xml>"
    ).encode()


def signed(body: bytes, nonce: str, at: int = 1764000000) -> Push:
    return Push(parse_xml(body).fields, signed_at=at, nonce=nonce)


def fan(i: int) -> str:
    return f"oReportOrder{i:016d}"


def sent(engine, fans: range) -> None:
    """What the send task writes after WeChat accepted each fan's template, then its catch-up."""
    outcomes = [Outcome(fan(i), "sent", msg_id=str(9000 + i)) for i in fans]
    ledger.record(engine, RUN, outcomes)
    reports.catch_up_deliveries(engine, APPID, RUN, [o.msg_id for o in outcomes])


def test_template_reports_that_beat_the_send_are_applied_when_it_is_written(any_store_url):
    engine = engine_for(any_store_url)
    history.save_run(engine, RUN, status="sending", kind="template", appid=APPID)
    ledger.add_recipients(engine, RUN, [fan(i) for i in range(4)])
    assert record_push(engine, APPID, parse_xml(template_report(fan(0), 9000))) == "delivery:unmatched"
    assert record_push(engine, APPID, parse_xml(template_report(fan(1), 9001, "failed:user block"))) == (
        "delivery:unmatched"
    )
    sent(engine, range(4))  # fans 0 and 1 were reported before this; 2 and 3 after
    assert record_push(engine, APPID, parse_xml(template_report(fan(2), 9002))) == "delivery:success"
    assert ledger.delivery_counts(engine, RUN) == {"success": 2, "failed:user block": 1}
    for body in (template_report(fan(0), 9000), template_report(fan(2), 9002)):  # WeChat's retries
        assert record_push(engine, APPID, parse_xml(body)) == "duplicate"
    assert ledger.delivery_counts(engine, RUN) == {"success": 2, "failed:user block": 1}


def test_a_report_for_a_message_we_never_sent_is_kept_and_says_so(any_store_url):
    engine = engine_for(any_store_url)
    assert record_push(engine, APPID, parse_xml(template_report(fan(7), 123))) == "delivery:unmatched"
    assert record_push(engine, APPID, parse_xml(mass_report(456))) == "mass_report:unmatched"


def test_a_mass_report_that_beats_the_jobs_msg_id_is_applied_when_it_is_written(any_store_url):
    engine = engine_for(any_store_url)
    history.save_run(engine, RUN, status="sending", kind="mass", appid=APPID)
    with engine.begin() as connection:
        history.save_mass_job(connection, RUN, 0, clientmsgid="c0", recipients=10)  # submitted, no answer yet
    assert record_push(engine, APPID, parse_xml(mass_report(777))) == "mass_report:unmatched"
    with engine.begin() as connection:  # WeChat's answer, written down
        history.save_mass_job(connection, RUN, 0, clientmsgid="c0", msg_id="777")
    assert reports.catch_up_mass_report(engine, APPID, "777")
    report = history.get_run(engine, RUN)["wechat_report"]
    assert (report["sent"], report["filter"], report["jobs_reported"]) == (9, 9, 1)
    assert record_push(engine, APPID, parse_xml(mass_report(777))) == "duplicate"


def mass_run(store_url: str, fans: int = 4, msg_id: str = "777") -> CampaignRun:
    """A mass run whose one job WeChat accepted (msg_id written, its fans sent), not given its verdict yet."""
    spec = parse_campaign({"message_type": "mass", "tag": "vip", "text": "冬季上新"}, utcnow())
    run = CampaignRun(RUN, spec, AccountSettings(appid=APPID), store_url, make_client=None)
    history.save_run(run.engine, RUN, status="sending", kind="mass", appid=APPID)
    ledger.add_recipients(run.engine, RUN, [fan(i) for i in range(fans)])
    ledger.record(run.engine, RUN, [Outcome(fan(i), "sent", msg_id=msg_id) for i in range(fans)])
    with run.engine.begin() as connection:
        history.save_mass_job(connection, RUN, 0, clientmsgid="c0", msg_id=msg_id, recipients=fans)
    return run


def write_history(run: CampaignRun) -> tuple[str, str | None]:
    with contextlib.suppress(summary.RunFailed):
        summary.write_history(run, None)
    row = history.get_run(run.engine, RUN)
    return row["status"], row["error"]


REFUSED = (
    "0 of 4 sent; 4 not sent: mass_refused_by_admin ×4; WeChat reported mass job 777 err(40001) "
    "(the administrator refused the send, API 群发保护): 0 of 4 sent, 4 failed"
)
PARTLY = "WeChat reported mass job 777 send success with errors: 3 of 4 sent, 1 failed"


@pytest.mark.parametrize("verdict_first", [False, True], ids=["report first", "verdict first"])
@pytest.mark.parametrize(
    ("report", "status", "error", "by_status"),
    [
        (mass_report(777, "err(40001)", 4, 4, error=4), "failed", REFUSED, {"failed": 4}),
        (mass_report(777, "send success", 4, 4, error=1), "partial", PARTLY, {"sent": 4}),
        (mass_report(777, "send success", 5, 4), "completed", None, {"sent": 4}),  # one filtered: its own business
    ],
    ids=["refused", "partly", "filtered"],
)
def test_a_failed_mass_job_says_so_whether_its_report_comes_before_the_verdict_or_after(
    any_store_url, verdict_first, report, status, error, by_status
):
    """A job WeChat reports reaching nobody fails its fans and the run; one with errors makes it partial. The
    verdict is the same whichever comes first, and WeChat's retry of the push changes nothing."""
    run = mass_run(any_store_url)
    if verdict_first:
        assert write_history(run) == ("completed", None)
        assert record_push(run.engine, APPID, parse_xml(report)) == "mass_report"
    else:
        assert record_push(run.engine, APPID, parse_xml(report)) == "mass_report"
        assert write_history(run) == (status, error)
    assert record_push(run.engine, APPID, parse_xml(report)) == "duplicate"
    row = history.get_run(run.engine, RUN)
    assert (row["status"], row["error"], row["counts"]["status"]) == (status, error, by_status)
    assert ledger.counts(run.engine, RUN)[0] == by_status
    if status == "failed":
        assert row["counts"]["reasons"] == {"failed:mass_refused_by_admin": 4}
        assert set(campaign_ledger(run).values()) == {("failed", "mass_refused_by_admin", "777")}


def campaign_ledger(run: CampaignRun) -> dict[str, tuple[str, str | None, str | None]]:
    return {row.openid: (row.status, row.reason, row.msg_id) for row in ledger.recipients_page(run.engine, RUN)}


def test_a_report_that_lands_while_the_verdict_is_written_is_not_lost(store_url, monkeypatch):
    """write_history read the job unreported; the report found the run not yet given its verdict (so left it
    to write_history); write_history sees the job changed after writing, and gives the verdict again."""
    run = mass_run(store_url)
    save_run = history.save_run

    def report_lands_first(*args, **fields):
        if not history.get_run(run.engine, RUN)["finished_at"]:
            record_push(run.engine, APPID, parse_xml(mass_report(777, "send fail", 4, 4, error=4)))
        save_run(*args, **fields)

    monkeypatch.setattr(history, "save_run", report_lands_first)
    status, error = write_history(run)
    assert status == "failed" and error is not None
    assert error.endswith("WeChat reported mass job 777 send fail: 0 of 4 sent, 4 failed")
    assert "mass_job_failed ×4" in error


def test_racing_reports_and_sends_lose_no_report_on_postgresql(pg_store_url):
    """A receiver's threads apply 2,000 reports while a send task writes the same fans in waves, in a random
    order: every fan ends delivered, each exactly once."""
    engine = engine_for(pg_store_url)
    fans = 2_000
    history.save_run(engine, RUN, status="sending", kind="template", appid=APPID)
    ledger.add_recipients(engine, RUN, [fan(i) for i in range(fans)])
    order = list(range(fans))
    random.Random(3).shuffle(order)
    failures: list[BaseException] = []

    def receiver(part: list[int]) -> None:
        try:
            for i in part:
                record_push(engine, APPID, parse_xml(template_report(fan(i), 9000 + i)))
        except BaseException as exc:
            failures.append(exc)

    def sender() -> None:
        try:
            for start in range(0, fans, 50):
                sent(engine, range(start, start + 50))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=receiver, args=(order[k::4],)) for k in range(4)]
    threads.append(threading.Thread(target=sender))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert ledger.delivery_counts(engine, RUN) == {"success": fans}


@pytest.mark.parametrize("in_batches", [True, False], ids=["one batch", "push by push"])
def test_a_batch_of_pushes_does_what_the_same_pushes_do_one_by_one(any_store_url, in_batches):
    """What a receiver's writer hands over in one transaction (on PostgreSQL: one statement): retries and
    replays inside the batch, reports with and without their send, a fan's window once, follows in order,
    and text that looks like SQL kept as it came."""
    engine = engine_for(any_store_url)
    history.save_run(engine, RUN, status="sending", kind="template", appid=APPID)
    ledger.add_recipients(engine, RUN, [fan(i) for i in range(3)])
    ledger.record(engine, RUN, [Outcome(fan(0), "sent", msg_id="9000"), Outcome(fan(1), "sent", msg_id="9001")])
    awkward = "it's {windows}; 100% -- \\'); DROP TABLE recipients; -- 你好"
    pushes = [
        signed(template_report(fan(0), 9000), "n0"),
        signed(template_report(fan(0), 9000), "n0"),  # WeChat's retry
        signed(template_report(fan(1), 9001, "failed:user block"), "n1"),
        signed(template_report(fan(2), 9002), "n2"),  # its send is not written yet
        signed(message(fan(5), 501), "n5"),
        signed(message(fan(5), 501), "n5"),
        signed(message(fan(5), 502), "n5"),  # the same signature on another body
        signed(message(fan(6), 601, awkward.replace("&", "&amp;").replace("<", "&lt;")), "n6"),
        signed(follow(fan(7), "subscribe", 1764000001), "n7"),
        signed(follow(fan(7), "unsubscribe", 1764000002), "n8"),
    ]
    if in_batches:
        outcomes = record_pushes(engine, [(APPID, push) for push in pushes])
    else:
        outcomes = [record_push(engine, APPID, push) for push in pushes]
    assert outcomes == [
        "delivery:success",
        "duplicate",
        "delivery:failed:user block",
        "delivery:unmatched",
        "interaction:text",
        "duplicate",
        REPLAYED,
        "interaction:text",
        "interaction:subscribe",
        "unsubscribed",
    ]
    assert record_pushes(engine, [(APPID, pushes[4]), (APPID, pushes[0])]) == ["duplicate", "duplicate"]
    assert ledger.delivery_counts(engine, RUN) == {"success": 1, "failed:user block": 1}
    with engine.connect() as connection:
        stored = dict(connection.execute(sa.select(callback_events.c.dedupe_key, callback_events.c.outcome)).all())
        windows = connection.execute(
            sa.select(interactions.c.openid, interactions.c.kind).order_by(interactions.c.openid)
        ).all()
        followed = dict(connection.execute(sa.select(fans.c.openid, fans.c.subscribed)).all())
        blocking = set(connection.scalars(sa.select(fans.c.openid).where(fans.c.blocks_templates)))
        content = connection.scalar(
            sa.select(callback_events.c.payload).where(callback_events.c.dedupe_key == "msg:601")
        )["Content"]
    assert len(stored) == 7 and stored[pushes[3].dedupe_key] == "delivery:unmatched"
    assert [tuple(row) for row in windows] == [(fan(5), "text"), (fan(6), "text"), (fan(7), "subscribe")]
    assert followed[fan(7)] is False and blocking == {fan(1)}
    assert content == awkward
    sent(engine, range(2, 3))  # the send of fan 2 is written: its report counts now
    assert ledger.delivery_counts(engine, RUN) == {"success": 2, "failed:user block": 1}
