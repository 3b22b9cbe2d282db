"""``wechat-campaigns history`` says what the Sent page says: a scheduled run stopped in Airflow before it
sent is cancelled, and a dry run planned its fans."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from wechat_campaigns import cli
from wechat_campaigns.store import history
from wechat_campaigns.store.db import engine_for


def test_history_says_cancelled_for_a_stopped_scheduled_run_and_planned_for_a_dry_run(
    scheduler_dags, store_url, capsys
):
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    dag = scheduler_dags("wechat_campaign")
    run_id = f"cancelled_{uuid.uuid4().hex[:8]}"
    with create_session() as session:  # the marketer pressed "Mark as failed" while it waited for send_at
        dag.create_dagrun(
            run_id=run_id,
            run_after=datetime.now(UTC),
            conf={},
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.FAILED,
            session=session,
        )
    engine = engine_for(store_url)
    scheduled = f"wechat_campaign/{run_id}"
    history.save_run(engine, scheduled, status="scheduled", dag_id="wechat_campaign", dag_run_id=run_id, kind="mass")
    dry = "wechat_campaign/manual__dry"
    counts = {"audience": 3, "eligible": 3, "status": {"planned": 3}, "reasons": {}}
    history.save_run(engine, dry, status="dry_run", dry_run=True, kind="mass", counts=counts, dag_run_id="manual__dry")

    assert cli.main(["--store", store_url, "history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = {line.split()[2]: line for line in lines if "manual__dry" in line or run_id in line}
    assert "cancelled" in table[run_id] and "scheduled" not in table[run_id]
    assert "planned (dry run)" in table["manual__dry"] and "3 planned" in table["manual__dry"]
    assert cli.main(["--store", store_url, "history", scheduled, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["display_status"] == "cancelled"
