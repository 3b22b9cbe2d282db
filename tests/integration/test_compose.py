"""docker-compose.yaml: checked by docker-compose itself (no Docker engine is needed for `config`), and for
what the product needs of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import ON_CI, ROOT

SECRETS = {
    "AIRFLOW_FERNET_KEY": "x" * 44,
    "AIRFLOW_JWT_SECRET": "jwt",
    "AIRFLOW_API_SECRET_KEY": "api",
    "_AIRFLOW_WWW_USER_PASSWORD": "pw",
    "POSTGRES_PASSWORD": "pg",
}


def docker_compose() -> str:
    """Debian's docker-compose (1.29, a Python program) validates the file; installed on first use."""
    found = shutil.which("docker-compose")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = ["apt-get", "install", "-y", "--no-install-recommends", "docker-compose"]
        if subprocess.run(command, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
            subprocess.run(command, env=env, capture_output=True, check=True)
        return shutil.which("docker-compose")
    message = "docker-compose is missing and cannot be installed here (needs apt-get as root)"
    pytest.fail(message) if ON_CI else pytest.skip(message)


@pytest.fixture
def env_file(tmp_path):
    example = (ROOT / ".env.example").read_text()
    for name, value in SECRETS.items():
        example = example.replace(f"{name}=\n", f"{name}={value}\n")
    path = tmp_path / ".env"
    path.write_text(example)
    return path


def config(env_file, *extra: str) -> subprocess.CompletedProcess:
    command = [docker_compose(), "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yaml"), *extra, "config"]
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)


@pytest.mark.parametrize("profile", [[], ["--profile", "sandbox"]])
def test_docker_compose_accepts_the_file(env_file, profile):
    done = config(env_file, *profile)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    expected = {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}
    expected |= {"airflow-triggerer", "airflow-worker", "airflow-init"}
    assert expected <= set(services)
    assert services["sandbox"]["profiles"] == ["sandbox"]  # only with --profile sandbox
    worker = services["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["AIRFLOW_CONN_WECHAT_STORE"].endswith("@postgres:5432/wechat")
    mounts = {volume.split(":")[1] for volume in worker["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= mounts
    receiver = services["wechat-callbacks"]  # the callback receiver apart from the UI, on the same store
    assert receiver["entrypoint"] == ["wechat-campaigns", "serve-callbacks"]
    assert receiver["command"][-2:] == ["--workers", "2"]
    assert receiver["environment"]["AIRFLOW_CONN_WECHAT_STORE"] == worker["environment"]["AIRFLOW_CONN_WECHAT_STORE"]


def test_the_receivers_service_runs_what_the_cli_serves():
    """The compose service's command, run here as a local process: it answers its health check, and its
    callback path is the plugin's (tests/e2e/test_reports.py sends a campaign's reports to it)."""
    from tests.fixtures.airflow import free_port, wait_until_up

    service = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]["wechat-callbacks"]
    port = free_port()
    args = [
        a.replace("0.0.0.0", "127.0.0.1")  # noqa: S104 - the compose value, replaced for a local run
        .replace("8081", str(port))
        .replace("${WECHAT_CALLBACK_WORKERS:-2}", "2")
        for a in service["command"]
    ]
    cli = os.path.join(os.path.dirname(sys.executable), service["entrypoint"][0])
    process = subprocess.Popen(
        [cli, *service["entrypoint"][1:], *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, Path(os.devnull), health="/health")
        answer = requests.post(f"http://127.0.0.1:{port}/wechat/callback/wechat_nobody", data=b"<xml/>", timeout=10)
        assert answer.status_code == 404 and "no WeChat account 'wechat_nobody'" in answer.text
    finally:
        process.terminate()
        process.wait(30)


def test_a_missing_secret_is_named(tmp_path):
    empty = tmp_path / ".env"
    empty.write_text("")
    done = config(empty)
    assert done.returncode != 0 and "set POSTGRES_PASSWORD in .env" in done.stderr


def test_the_image_extends_airflow_3_3_2_and_init_prepares_the_pool_and_store():
    assert "FROM apache/airflow:3.3.2-python3.11" in (ROOT / "Dockerfile").read_text().splitlines()
    init = "\n".join(yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]["airflow-init"]["command"])
    assert "airflow pools set wechat_api" in init and "wechat-campaigns migrate" in init
    assert "CREATE DATABASE wechat" in (ROOT / "docker/postgres-init/10-wechat-store.sql").read_text()


def test_the_init_job_sets_each_accounts_pool_after_migrating(airflow_db, tmp_path):
    """The init job's steps after `airflow version`, run here as local processes on the test's Airflow database:
    one pool per wechat_mp connection (from AIRFLOW_CONN_* variables, JSON and URI forms) with the connection's
    send_slots, after the store's migration, and the fallback pool kept."""
    import shlex

    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    init = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]["airflow-init"]["command"][-1]
    steps = [line.strip().removeprefix("/entrypoint ") for line in init.splitlines()]
    steps = [step for step in steps if step.startswith(("airflow ", "wechat-campaigns "))]
    assert steps.index("wechat-campaigns pools") > steps.index("wechat-campaigns migrate")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "WECHAT_"))}
    env.update(
        {
            "AIRFLOW_CONN_WECHAT_STORE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "store.db")}),
            "AIRFLOW_CONN_WECHAT_COMPOSE_A": json.dumps(
                {"conn_type": "wechat_mp", "login": "wxcomposea", "password": "secret-a", "extra": {"send_slots": 2}}
            ),
            "AIRFLOW_CONN_WECHAT_COMPOSE_B": "wechat-mp://wxcomposeb:secret-b@sandbox%3A8900/?send_slots=5",
        }
    )
    with create_session() as session:
        before = {pool.pool: pool.slots for pool in session.query(Pool)}
    bin_dir = os.path.dirname(sys.executable)
    outputs = []
    try:
        for step in steps[steps.index("airflow version") + 1 :]:
            args = shlex.split(step.replace("${WECHAT_API_POOL_SLOTS:-16}", "16"))
            done = subprocess.run(
                [os.path.join(bin_dir, args[0]), *args[1:]], env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, (step, done.stdout[-2000:], done.stderr[-2000:])
            outputs.append(done.stdout)
        with create_session() as session:
            pools = {pool.pool: pool for pool in session.query(Pool)}
        assert pools["wechat_wechat_compose_a"].slots == 2 and pools["wechat_wechat_compose_b"].slots == 5
        assert not pools["wechat_wechat_compose_a"].include_deferred  # a send waiting for tomorrow's quota frees it
        assert pools["wechat_api"].slots == 16  # the fallback, as the init job sets it
        assert "wechat_wechat_compose_a: 2 slots = send_slots of wechat_compose_a (created)" in outputs[-1]
        assert "could exceed its rate_limit" in outputs[-1]  # 16 fallback slots > the smallest send_slots, 2
    finally:
        with create_session() as session:
            for pool in session.query(Pool):
                if pool.pool not in before:
                    session.delete(pool)
                elif pool.slots != before[pool.pool]:
                    pool.slots = before[pool.pool]
