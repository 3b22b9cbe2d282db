"""The production topology, as local processes: Airflow on PostgreSQL with the CeleryExecutor on Redis —
api-server, scheduler, dag-processor, triggerer and two Celery workers — and the campaign store on
PostgreSQL. Campaigns are triggered through the REST API (one now, one a minute ahead), a worker is killed
in the middle of a send, and every eligible fan's inbox must hold the message exactly once.

The same components docker-compose.yaml runs, without Docker (no engine runs here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
import requests
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, ROOT, require_service
from tests.fixtures.airflow import free_port, wait_for
from tests.fixtures.sandbox import ORDER_PAID, STANDARD_TEMPLATE, make_standard_account

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

APPID, SECRET = "wxdistributed000001", "distributed-secret"
FANS = 2_000
REDIS_DB = 7  # a Redis database of its own, flushed before use
USER, PASSWORD = "operator", "distributed-test-password"


@dataclass
class Cluster:
    url: str
    store_url: str
    home: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        answer = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def api(self, method: str, path: str, **kwargs):
        answer = requests.request(method, f"{self.url}/api/v2{path}", headers=self.headers(), timeout=30, **kwargs)
        assert answer.ok, (path, answer.status_code, answer.text[:500])
        return answer.json()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-2500:]}" for p in sorted(self.home.glob("*.log")))


def database(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def cluster(sandbox_process, tmp_path_factory):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    suffix = uuid.uuid4().hex[:8]
    meta_db, store_db = f"airflow_dist_{suffix}", f"wechat_dist_{suffix}"
    meta_url, store_url = database(meta_db), database(store_db)
    home = tmp_path_factory.mktemp("cluster")
    port = free_port()
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WECHAT"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta_url,  # SQLAlchemy 2.1 would pick psycopg 3 otherwise
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": "distributed-test-jwt-secret",
            "AIRFLOW__API__SECRET_KEY": "distributed-test-secret-key",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            # notice a dead worker's task within seconds, not minutes
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW_CONN_WECHAT_DEFAULT": json.dumps(
                {
                    "conn_type": "wechat_mp",
                    "login": APPID,
                    "password": SECRET,
                    "host": sandbox_process,
                    "extra": {"rate_limit": 400, "send_slots": 4},
                }
            ),
            "AIRFLOW_CONN_WECHAT_STORE": json.dumps(
                {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": store_db}
            ),
            "WECHAT_MATERIALS_DIR": str(ROOT / "include" / "materials"),
        }
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    wechat_campaigns = str(Path(sys.executable).with_name("wechat-campaigns"))  # the operator's step, as in compose
    subprocess.run([wechat_campaigns, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([airflow, "pools", "set", "wechat_api", "8", "sends"], env=env, check=True, capture_output=True)
    commands = {
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer"],
        "worker-1": [airflow, "celery", "worker", "--celery-hostname", "worker1@%h", "--concurrency", "4"],
        "worker-2": [airflow, "celery", "worker", "--celery-hostname", "worker2@%h", "--concurrency", "4"],
    }
    running = Cluster(f"http://127.0.0.1:{port}", store_url.replace("postgresql+psycopg2", "postgresql+psycopg2"), home)
    try:
        for name, command in commands.items():
            with (home / f"{name}.log").open("w") as log:
                running.processes[name] = subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        wait_for(lambda: running.api("GET", "/dags/wechat_campaign")["is_paused"] is False, 180, running)
        # the campaigns declared in include/campaigns are DAGs of their own, unpaused
        wait_for(
            lambda: running.api("GET", "/dags/wechat_campaign__vip_weekly_digest")["is_paused"] is False, 60, running
        )
        yield running
    finally:
        for process in running.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in running.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        drop(meta_db)
        drop(store_db)


def trigger(cluster: Cluster, conf: dict) -> str:
    return cluster.api("POST", "/dags/wechat_campaign/dagRuns", json={"logical_date": None, "conf": conf})["dag_run_id"]


def run_state(cluster: Cluster, run_id: str) -> str:
    return cluster.api("GET", f"/dags/wechat_campaign/dagRuns/{run_id}")["state"]


def kill_the_worker_sending(cluster: Cluster, run_id: str) -> str:
    """SIGKILL the whole Celery worker (process group) that runs one of the run's send tasks."""
    tis = cluster.api("GET", f"/dags/wechat_campaign/dagRuns/{run_id}/taskInstances", params={"task_ids": "send"})
    pids = {ti["pid"] for ti in tis["task_instances"] if ti["state"] == "running" and ti.get("pid")}
    for name in ("worker-1", "worker-2"):
        worker = cluster.processes[name]
        family = {child.pid for child in psutil.Process(worker.pid).children(recursive=True)}
        if pids & family:
            os.killpg(worker.pid, signal.SIGKILL)
            return name
    return ""


def test_campaigns_on_celery_and_postgres_survive_a_killed_worker(cluster, sandbox):
    fans = [{"openid": f"oClusterFan{i:017d}", "tags": ["crowd"]} for i in range(FANS)]
    make_standard_account(sandbox, appid=APPID, secret=SECRET, fans=fans)
    sandbox.faults([{"endpoint": "/cgi-bin/message/template/send", "latency_ms": 15}])
    openids = {fan["openid"] for fan in fans}

    now_run = trigger(
        cluster,
        {"message_type": "template", "tag": "crowd", "template_id": STANDARD_TEMPLATE, "template_data": ORDER_PAID},
    )
    send_at = datetime.now(UTC) + timedelta(minutes=1)
    later_run = trigger(
        cluster, {"message_type": "mass", "tag": "crowd", "text": "一分钟后见", "send_at": send_at.isoformat()}
    )

    def some_sent_by_a_running_task():
        sent = sum(sandbox.inbox_counts(APPID, kind="template").values())
        return sent >= 200 and kill_the_worker_sending(cluster, now_run)

    killed = wait_for(some_sent_by_a_running_task, 180, cluster, every=0.2)
    assert killed in ("worker-1", "worker-2")

    for run_id in (now_run, later_run):
        wait_for(lambda run_id=run_id: run_state(cluster, run_id) in ("success", "failed"), 420, cluster, every=3)
        assert run_state(cluster, run_id) == "success", cluster.logs()

    templates = sandbox.inbox_counts(APPID, kind="template")
    assert set(templates) == openids and set(templates.values()) == {1}, "every fan exactly once"
    masses = sandbox.inbox_counts(APPID, kind="mass")
    assert set(masses) == openids and set(masses.values()) == {1}
    first_mass = min(
        datetime.fromisoformat(m["at"]) for m in sandbox.inbox(APPID, fans[0]["openid"]) if m["kind"] == "mass"
    )
    assert first_mass >= send_at - timedelta(seconds=1)  # not before its time

    retried = cluster.api("GET", f"/dags/wechat_campaign/dagRuns/{now_run}/taskInstances", params={"task_ids": "send"})
    assert max(ti["try_number"] for ti in retried["task_instances"]) >= 2  # the killed slice ran again

    from wechat_campaigns.store import history
    from wechat_campaigns.store.db import engine_for

    engine = engine_for(cluster.store_url)
    for run_id, kind in ((now_run, "template"), (later_run, "mass")):
        row = history.get_run(engine, f"wechat_campaign/{run_id}")
        assert row["status"] == "completed" and row["kind"] == kind
        assert row["counts"]["status"] == {"sent": FANS} and row["counts"]["audience"] == FANS
