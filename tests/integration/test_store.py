"""The campaign store on SQLite and PostgreSQL: same schema, same behaviour."""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from wechat_campaigns.domain.eligibility import WindowClass
from wechat_campaigns.domain.spec import MessageKind
from wechat_campaigns.store import history, ledger, quotas
from wechat_campaigns.store.db import current_revision, engine_for, upgrade
from wechat_campaigns.store.fans import add_interactions, add_receipts, add_run_receipts, fan_facts, mark_fans
from wechat_campaigns.store.schema import metadata

APPID = "wx_store_test"


def openid(i: int) -> str:
    return f"o{i:027d}"


def test_migrations_build_exactly_the_declared_schema(any_store_url):
    with engine_for(any_store_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    upgrade(any_store_url)  # a second upgrade is a no-op
    assert current_revision(any_store_url) == "0008"


def test_ledger_keeps_one_row_per_fan_in_order(any_store_url):
    engine = engine_for(any_store_url)
    seen = ledger.add_recipients(engine, "run/1", [openid(i) for i in [3, 1, 3, 2, 1]])
    assert (seen, ledger.count(engine, "run/1")) == (5, 3)
    assert list(ledger.iter_openids(engine, "run/1", chunk=2)) == [[openid(3), openid(1)], [openid(2)]]


def test_a_sendall_job_moves_the_whole_run_and_counts_towards_the_monthly_cap(any_store_url):
    engine = engine_for(any_store_url)
    ledger.add_recipients(engine, "run/all", [openid(i) for i in range(5)])
    ledger.record(engine, "run/all", [ledger.Outcome(openid(0), ledger.EXCLUDED, "monthly_cap")])
    with engine.begin() as connection:
        moved = ledger.move_all(connection, "run/all", [ledger.PENDING], ledger.Outcome("", ledger.SENT, msg_id="77"))
        add_run_receipts(connection, APPID, "run/all", "77", "run/all#0")
        add_run_receipts(connection, APPID, "run/all", "77", "run/all#0")  # a retry adds nothing
    assert moved == 4
    assert ledger.counts(engine, "run/all")[0] == {"sent": 4, "excluded": 1}
    now = datetime.now(UTC)
    facts = fan_facts(engine, APPID, [openid(i) for i in range(5)], MessageKind.MASS, now)
    assert [facts[openid(i)].mass_this_month for i in range(5)] == [0, 1, 1, 1, 1]


def test_batches_are_numbered_evenly_over_pending_fans(any_store_url):
    engine = engine_for(any_store_url)
    ledger.add_recipients(engine, "run/2", [openid(i) for i in range(10)])
    ledger.record(engine, "run/2", [ledger.Outcome(openid(0), ledger.EXCLUDED, "monthly_cap")])
    assert ledger.assign_batches(engine, "run/2", 3) == 9
    sizes = [len(ledger.batch_rows(engine, "run/2", b, [ledger.PENDING])) for b in range(3)]
    assert sizes == [3, 3, 3]
    by_status, by_reason = ledger.counts(engine, "run/2")
    assert by_status == {"pending": 9, "excluded": 1}
    assert by_reason == {"excluded:monthly_cap": 1}


def test_fan_facts_come_from_what_the_store_learnt(any_store_url):
    engine = engine_for(any_store_url)
    now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    mark_fans(engine, APPID, [openid(1)], subscribed=False)
    mark_fans(engine, APPID, [openid(2)], blocks_templates=True)
    add_receipts(
        engine,
        APPID,
        [
            {"openid": openid(3), "receipt_key": f"k{i}", "received_at": now.timestamp() - i * 3600, "source": "import"}
            for i in range(4)
        ]
        + [{"openid": openid(3), "receipt_key": "last-month", "received_at": 1_761_000_000, "source": "import"}],
    )
    fresh = add_interactions(
        engine,
        APPID,
        [
            {
                "openid": openid(4),
                "kind": "text",
                "at": now.timestamp() - 3600,
                "source": "callback",
                "dedupe_key": "m1",
            },
            {
                "openid": openid(4),
                "kind": "text",
                "at": now.timestamp() - 3600,
                "source": "callback",
                "dedupe_key": "m1",
            },
            {"openid": openid(4), "kind": "view", "at": now.timestamp() - 60, "source": "callback", "dedupe_key": "v1"},
        ],
    )
    assert fresh == 2  # WeChat's retry of m1 is recorded once

    mass = fan_facts(engine, APPID, [openid(i) for i in range(1, 5)], MessageKind.MASS, now)
    assert mass[openid(1)].subscribed is False
    assert mass[openid(3)].mass_this_month == 4  # last month's receipt does not count
    assert mass[openid(4)].subscribed is None
    cs = fan_facts(engine, APPID, [openid(4)], MessageKind.CUSTOMER_SERVICE, now)
    assert set(cs[openid(4)].windows) == {WindowClass.MESSAGE}  # VIEW opens no window
    template = fan_facts(engine, APPID, [openid(2)], MessageKind.TEMPLATE, now)
    assert template[openid(2)].blocks_templates


def test_quota_usage_is_per_beijing_day(any_store_url):
    engine = engine_for(any_store_url)
    before_midnight = datetime(2026, 11, 24, 15, 59, tzinfo=UTC)  # 23:59 Beijing
    after_midnight = datetime(2026, 11, 24, 16, 1, tzinfo=UTC)
    with engine.begin() as connection:
        quotas.add(connection, APPID, "/cgi-bin/message/template/send", before_midnight, 7)
        quotas.add(connection, APPID, "/cgi-bin/message/template/send", before_midnight, 3)
    assert quotas.used(engine, APPID, "/cgi-bin/message/template/send", before_midnight) == 10
    assert quotas.used(engine, APPID, "/cgi-bin/message/template/send", after_midnight) == 0


def test_history_rows_and_mass_reports(any_store_url):
    engine = engine_for(any_store_url)
    history.save_run(engine, "wechat_campaign/r1", status="sending", kind="mass", appid=APPID, audience="tag: vip")
    history.save_run(engine, "wechat_campaign/r1", status="completed")
    with engine.begin() as connection:
        history.save_mass_job(connection, "wechat_campaign/r1", 0, clientmsgid="c0", msg_id="1001")
        history.save_mass_job(connection, "wechat_campaign/r1", 1, clientmsgid="c1", msg_id="1002")
    report = {"status": "send success", "total": 10, "filter": 8, "sent": 8, "error": 0}
    assert history.record_mass_report(engine, APPID, "1001", report) == "wechat_campaign/r1"
    assert history.record_mass_report(engine, APPID, "999", report) is None
    assert history.record_mass_report(engine, "wxanotheraccount01", "1002", report) is None  # not that account's
    run = history.get_run(engine, "wechat_campaign/r1")
    assert run["status"] == "completed" and run["kind"] == "mass"
    assert run["wechat_report"]["sent"] == 8 and run["wechat_report"]["jobs_reported"] == 1
    assert [r["run_key"] for r in history.list_runs(engine, filters={"kind": "mass"})] == ["wechat_campaign/r1"]
    assert history.list_runs(engine, filters={"kind": "template"}) == []
    assert len(history.list_runs(engine, filters={"tag": "vip"})) == 1
    assert history.list_runs(engine, filters={"tag": "vi"}) == []


def test_sqlite_store_is_shared_between_connections(store_url):
    engine = engine_for(store_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"


def test_upgrading_an_existing_store_keeps_its_data(any_store_url):
    from alembic import command
    from alembic.config import Config

    from wechat_campaigns.store.db import MIGRATIONS

    engine = engine_for(any_store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    ledger.add_recipients(engine, "run/old", [openid(1), openid(2)])
    upgrade(any_store_url)
    assert current_revision(any_store_url) == "0008"
    rows = ledger.recipients_page(engine, "run/old")
    assert [(row.openid, row.status, row.delivery) for row in rows] == [
        (openid(1), "pending", None),
        (openid(2), "pending", None),
    ]
