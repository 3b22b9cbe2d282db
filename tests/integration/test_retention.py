"""Stored pushes are pruned after their retention age, by the maintenance DAG or the CLI; nothing the history
shows changes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from wechat_campaigns.inbound import record_push
from wechat_campaigns.store import history, ledger
from wechat_campaigns.store.db import engine_for, insert_ignoring_duplicates
from wechat_campaigns.store.schema import callback_events, recipients
from wechat_campaigns.wechat.callbacks import parse_xml

APPID, RUN = "wxretention00000001", "wechat_campaign/manual__retention"
DAY = 86_400


def report(openid: str, msg_id: int, created: int) -> bytes:
    return (
        f"<xml><FromUserName>{openid}</FromUserName><CreateTime>{created}</CreateTime><MsgType>event</MsgType>"
        f"<Event>TEMPLATESENDJOBFINISH</Event><MsgID>{msg_id}</MsgID><Status>success</Status></xml>"
    ).encode()


def a_delivered_run(engine, fans: int) -> None:
    """A template run whose fans' reports came 100 days ago, and one report of today."""
    history.save_run(engine, RUN, status="completed", kind="template", appid=APPID)
    with engine.begin() as connection:
        rows = [
            {"run_key": RUN, "openid": f"oRetention{i:018d}", "position": i, "status": "sent", "msg_id": str(500 + i)}
            for i in range(fans)
        ]
        insert_ignoring_duplicates(connection, recipients, rows)
    for i in range(fans):
        record_push(engine, APPID, parse_xml(report(f"oRetention{i:018d}", 500 + i, 1_700_000_000 + i)))
    with engine.begin() as connection:  # as if received 100 days ago, all but the last
        connection.execute(
            sa.update(callback_events)
            .where(callback_events.c.msg_id != str(500 + fans - 1))
            .values(received_at=time.time() - 100 * DAY)
        )


def kept(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(callback_events))


def test_the_cli_prunes_old_pushes_and_the_delivered_count_stays(any_store_url):
    engine = engine_for(any_store_url)
    a_delivered_run(engine, 120)
    cli = Path(sys.executable).with_name("wechat-campaigns")
    done = subprocess.run(
        [str(cli), "--store", any_store_url, "prune-callbacks", "--older-than-days", "90"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "119 callback events older than 90 days deleted"
    assert kept(engine) == 1
    assert ledger.delivery_counts(engine, RUN) == {"success": 120}  # what the Sent page counts


def test_a_retention_age_under_a_day_is_refused(store_url):
    cli = Path(sys.executable).with_name("wechat-campaigns")
    done = subprocess.run(
        [str(cli), "--store", store_url, "prune-callbacks", "--older-than-days", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "callback_retention_days must be at least 1, not 0" in done.stderr


@pytest.mark.slow
def test_the_maintenance_dag_prunes_with_its_configured_age(airflow_db, store_url, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    engine = engine_for(store_url)
    a_delivered_run(engine, 30)
    store = {"conn_type": "sqlite", "host": store_url.removeprefix("sqlite:///")}
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_STORE", json.dumps(store))
    dag = DagBag().get_dag("wechat_maintenance")
    run = dag.test(run_conf={"callback_retention_days": 120})  # 100-day-old pushes are kept at 120 days
    assert run.state == "success" and kept(engine) == 30
    run = dag.test(run_conf={"callback_retention_days": 90})
    assert run.state == "success" and kept(engine) == 1
    assert ledger.delivery_counts(engine, RUN) == {"success": 30}
