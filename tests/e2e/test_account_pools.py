"""Two accounts' campaigns side by side: Airflow's scheduler, dag-processor, triggerer and api-server as real
processes (LocalExecutor, SQLite), the pools made by `wechat-campaigns pools` as the compose init job makes
them. Account A (one send slot, a slow rate limit, two slices) saturates its pool; account B's campaign —
a declared one, triggered by hand — completes meanwhile. With one shared pool (the fallback has one slot
too) B would wait for A's slices, minutes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import ROOT
from tests.fixtures.airflow import free_port, wait_for
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account

pytestmark = pytest.mark.slow

USER, PASSWORD = "operator", "pools-test-password"
A = {"conn_id": "wechat_pa", "appid": "wxpoolsaccounta001", "secret": "pools-secret-a"}
B = {"conn_id": "wechat_pb", "appid": "wxpoolsaccountb001", "secret": "pools-secret-b"}
A_FANS = 600  # two ledger batches of 500: two send slices, one slot
B_DAG = "wechat_campaign__pools_b_now"


@dataclass
class LocalAirflow:
    url: str
    home: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str = ""

    def api(self, method: str, path: str, **kwargs):
        if not self._token:
            answer = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._token}"}
        answer = requests.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=30, **kwargs)
        assert answer.ok, (path, answer.status_code, answer.text[:500])
        return answer.json()

    def send_tis(self, dag_id: str, run_id: str) -> list[dict]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return sorted((ti for ti in tis if ti["task_id"] == "send"), key=lambda ti: ti["map_index"])

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-2500:]}" for p in sorted(self.home.glob("*.log")))


def connection(account: dict, sandbox_url: str, **extra) -> str:
    return json.dumps(
        {
            "conn_type": "wechat_mp",
            "login": account["appid"],
            "password": account["secret"],
            "host": sandbox_url,
            "extra": extra,
        }
    )


@pytest.fixture(scope="module")
def local_airflow(sandbox_process, tmp_path_factory):
    home = tmp_path_factory.mktemp("pools-airflow")
    campaigns = home / "campaigns"
    campaigns.mkdir()
    conf = {
        "message_type": "template",
        "tag": "customers",
        "template_id": STANDARD_TEMPLATE,
        "template_data": ORDER_PAID,
        "wechat_conn_id": B["conn_id"],
    }
    (campaigns / f"{B_DAG.removeprefix('wechat_campaign__')}.yaml").write_text(
        yaml.safe_dump({"schedule": "0 0 1 1 *", "conf": conf}, allow_unicode=True)
    )
    port = free_port()
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WECHAT"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": "pools-test-jwt-secret",
            "AIRFLOW__API__SECRET_KEY": "pools-test-secret-key",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only the two campaigns' DAGs run
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            f"AIRFLOW_CONN_{A['conn_id'].upper()}": connection(A, sandbox_process, rate_limit=4, send_slots=1),
            f"AIRFLOW_CONN_{B['conn_id'].upper()}": connection(B, sandbox_process, send_slots=2),
            "AIRFLOW_CONN_WECHAT_STORE": json.dumps({"conn_type": "sqlite", "host": str(home / "store.db")}),
            "WECHAT_MATERIALS_DIR": str(ROOT / "include" / "materials"),
            "WECHAT_CAMPAIGNS_DIR": str(campaigns),
        }
    )
    bin_dir = Path(sys.executable).parent
    airflow, cli = str(bin_dir / "airflow"), str(bin_dir / "wechat-campaigns")
    for step in ([airflow, "db", "migrate"], [cli, "migrate"], [cli, "pools"]):  # as the compose init job
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (step, done.stdout[-3000:], done.stderr[-3000:])
    assert "wechat_wechat_pa: 1 slot = send_slots of wechat_pa (created)" in done.stdout
    assert "wechat_api: 1 slot (fallback, created)" in done.stdout  # the smallest send_slots
    commands = {
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer"],
    }
    running = LocalAirflow(f"http://127.0.0.1:{port}", home)
    try:
        for name, command in commands.items():
            with (home / f"{name}.log").open("w") as log:
                running.processes[name] = subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        for dag_id in ("wechat_campaign", B_DAG):
            wait_for(
                lambda dag_id=dag_id: running.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}), 120, running
            )
        yield running
    finally:
        for process in running.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in running.processes.values():
            try:
                process.wait(5)  # the scheduler would wait for A's slice, minutes
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_a_busy_account_does_not_hold_back_another(local_airflow, sandbox):
    fans = [{"openid": f"oPoolsFanA{i:018d}", "tags": ["customers"]} for i in range(A_FANS)]
    make_standard_account(sandbox, appid=A["appid"], secret=A["secret"], fans=fans)
    make_standard_account(sandbox, appid=B["appid"], secret=B["secret"])
    airflow = local_airflow

    conf_a = {
        "message_type": "template",
        "tag": "customers",
        "template_id": STANDARD_TEMPLATE,
        "template_data": ORDER_PAID,
        "wechat_conn_id": A["conn_id"],
    }
    run_a = airflow.api("POST", "/dags/wechat_campaign/dagRuns", json={"logical_date": None, "conf": conf_a})

    def a_done(task_id: str) -> bool:
        tis = airflow.api("GET", f"/dags/wechat_campaign/dagRuns/{run_a['dag_run_id']}/taskInstances")
        return any(ti["task_id"] == task_id and ti["state"] == "success" for ti in tis["task_instances"])

    # B a few steps behind A, so that A's send holds A's pool when B's send comes.
    wait_for(lambda: a_done("filter_eligible"), 90, airflow)
    run_b = airflow.api("POST", f"/dags/{B_DAG}/dagRuns", json={"logical_date": None})  # the file's conf

    def b_finished():
        state = airflow.api("GET", f"/dags/{B_DAG}/dagRuns/{run_b['dag_run_id']}")["state"]
        return state if state in ("success", "failed") else None

    assert wait_for(b_finished, 120, airflow) == "success", airflow.logs()
    assert set(sandbox.inbox_counts(B["appid"], kind="template").values()) == {1}

    # Meanwhile A is still sending its first slice, its second waiting for A's only slot.
    assert airflow.api("GET", f"/dags/wechat_campaign/dagRuns/{run_a['dag_run_id']}")["state"] == "running"

    def a_holds_its_only_slot():
        sends = airflow.send_tis("wechat_campaign", run_a["dag_run_id"])
        return sends if sorted(ti["state"] for ti in sends) == ["running", "scheduled"] else None

    sends_a = wait_for(a_holds_its_only_slot, 20, airflow)
    sends_b = airflow.send_tis(B_DAG, run_b["dag_run_id"])
    assert {ti["pool"] for ti in sends_a} == {"wechat_wechat_pa"}  # chosen from the run's conf by the policy
    assert {ti["pool"] for ti in sends_b} == {"wechat_wechat_pb"}  # the declared campaign's, from its file
    a_started = min(ti["start_date"] for ti in sends_a if ti["start_date"])
    assert max(ti["end_date"] for ti in sends_b) > a_started  # B sent while A's slice held A's pool
    assert 0 < sum(sandbox.inbox_counts(A["appid"], kind="template").values()) < A_FANS
    pool_a = airflow.api("GET", "/pools/wechat_wechat_pa")
    assert pool_a["slots"] == 1 and pool_a["running_slots"] == 1 and pool_a["open_slots"] == 0
