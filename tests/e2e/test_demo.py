"""`make demo` keeps working: real campaigns through `airflow dags test`, and a history that matches the seed."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_demo_runs_and_its_history_matches_the_seed(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WECHAT"))}
    env["WECHAT_DEMO_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count(" yes") == 4
    assert "left out: monthly_cap 80" in done.stdout and "refused: blocked 60" in done.stdout
