"""No log line, at any level, holds an account's AppSecret or access token: both are registered with
Airflow's secrets masker by the hook, in every process that holds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE
from wechat_campaigns.store.schema import access_tokens

pytestmark = pytest.mark.slow

RUN = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
run = DagBag().get_dag("wechat_campaign").test(run_conf=json.loads(sys.argv[1]))
print("RUN STATE", run.state)
"""


def test_a_campaign_logged_at_debug_shows_neither_the_token_nor_the_secret(campaign):
    """The campaign runs in a process of its own with Airflow's logging at DEBUG, as an operator chasing a
    problem would set it; everything it writes, to its output and to Airflow's log files, is searched."""
    conf = {
        "message_type": "template",
        "openids": campaign.account.openids,
        "template_id": STANDARD_TEMPLATE,
        "template_data": ORDER_PAID,
    }
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(conf)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    logs = done.stdout + done.stderr
    assert "RUN STATE success" in logs, logs[-3000:]
    for path in Path(os.environ["AIRFLOW_HOME"], "logs").rglob("*"):
        if path.is_file():
            logs += path.read_text(errors="replace")
    with campaign.engine.connect() as connection:
        token = connection.scalar(
            sa.select(access_tokens.c.token).where(access_tokens.c.appid == campaign.account.appid)
        )
    assert "access_token=" in logs  # urllib3's DEBUG request lines were written, with the token masked
    lines = [line for line in logs.splitlines() if not _dag_test_comms(line)]
    assert token and not [line for line in lines if token in line]
    assert not [line for line in lines if campaign.account.secret in line]


def _dag_test_comms(line: str) -> bool:
    """``dag.test()``'s in-process supervisor logs each message at DEBUG, the mask request itself included
    (Airflow's real supervisor omits that body: "Received message from task runner (body omitted)")."""
    return "Sending request" in line or "type='MaskSecret'" in line
