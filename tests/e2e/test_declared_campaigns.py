"""Recurring campaigns declared as files become DAGs of their own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

GOOD = """
description: Monday digest
schedule: "0 10 * * 1"
conf:
  message_type: mass
  tag: vip
  material: text/welcome
  name: Monday digest
"""
BROKEN = """
schedule: "0 9 * * *"
conf:
  message_type: mass
  tag: vip
"""


def parse(monkeypatch, folder):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("WECHAT_CAMPAIGNS_DIR", str(folder))
    bag = DagBag()
    assert bag.import_errors == {}
    return bag.dags


def test_a_declared_campaign_is_a_scheduled_dag_that_sends(campaign, tmp_path, monkeypatch):
    (tmp_path / "monday_digest.yaml").write_text(GOOD)
    dags = parse(monkeypatch, tmp_path)
    digest = dags["wechat_campaign__monday_digest"]
    assert digest.timetable.expression == "0 10 * * 1" and "declared" in digest.tags
    assert digest.is_paused_upon_creation is False
    run = digest.test()
    assert run.state == "success", campaign.task_states(run)
    assert campaign.received("mass") == {o: 1 for o in campaign.account.openids[:2]}
    assert campaign.history(run)["name"] == "Monday digest"


def test_a_broken_file_shows_its_problem_without_hiding_the_others(tmp_path, monkeypatch, airflow_db):
    (tmp_path / "monday_digest.yaml").write_text(GOOD)
    (tmp_path / "daily_oops.yaml").write_text(BROKEN)
    (tmp_path / "bad-name.yaml").write_text(GOOD)
    dags = parse(monkeypatch, tmp_path)
    assert "wechat_campaign__monday_digest" in dags
    oops = dags["wechat_campaign__daily_oops"]
    assert "broken" in oops.tags and "conf.material: choose a material" in oops.doc_md
    assert "file name" in dags["wechat_campaign__bad_name"].doc_md
