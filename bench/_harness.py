"""Shared set-up of the campaign benchmarks: a sandbox pinned to CPU 0, Airflow in this process (on the
other CPU), a fresh campaign store, and a big account. Each benchmark prints its figures and a JSON line."""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPID, SECRET = "wxbench00000000001", "bench-secret"
TEMPLATE = "tpl-order-paid"
ORDER_PAID = {
    "thing1": "巧克力礼盒",
    "character_string2": "SO2026001",
    "amount3": "39.80元",
    "time4": "2026-01-02 15:01",
}


def airflow_env(home: Path) -> None:
    """Before anything imports airflow: a private AIRFLOW_HOME and this project's folders."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "WECHAT_MATERIALS_DIR": str(ROOT / "include" / "materials"),
        }
    )
    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]


@contextmanager
def bench_world(fans: int, store: str | None = None, extra: dict | None = None):
    """Yields (admin, store_url): a sandbox on CPU 0 with ``fans`` fans tagged "crowd", and this process
    pinned to the other CPUs with Airflow's metadata database ready."""
    home = Path(tempfile.mkdtemp(prefix="wechat-bench-"))
    airflow_env(home)
    from wechat_sandbox.admin import SandboxAdmin
    from wechat_sandbox.launch import SandboxServer

    cpus = sorted(os.sched_getaffinity(0))
    server = SandboxServer(cpu=cpus[0], log=home / "sandbox.log")
    server.start()
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))
    try:
        admin = SandboxAdmin(server.base_url, timeout=300)
        admin.create_account(
            APPID,
            SECRET,
            templates=[{"template_id": TEMPLATE, "template_id_short": "TM00015"}],
            quotas={"/cgi-bin/message/template/send": 10_000_000, "/cgi-bin/user/tag/get": 10_000_000},
        )
        for start in range(0, fans, 200_000):
            group = {"count": min(200_000, fans - start), "prefix": "oBench", "start": start, "tags": ["crowd"]}
            admin.add_fans(APPID, fan_groups=[group])
        store_url = store or f"sqlite:///{home / 'store.db'}"
        connection = {
            "conn_type": "wechat_mp",
            "login": APPID,
            "password": SECRET,
            "host": server.base_url,
            "extra": {
                # The benchmark measures us, not the account's limits: lift them all.
                "rate_limit": 100_000,
                "send_slots": 1,
                "confirm_threshold": 10_000_000,
                "template_daily_quota": 10_000_000,
                **(extra or {}),
            },
        }
        os.environ["AIRFLOW_CONN_WECHAT_DEFAULT"] = json.dumps(connection)
        os.environ["AIRFLOW_CONN_WECHAT_STORE"] = json.dumps(store_connection(store_url))
        from airflow.utils import db

        from wechat_campaigns.store.db import upgrade

        db.resetdb()
        upgrade(store_url)  # as `wechat-campaigns migrate` would: a configured store is not migrated by tasks
        yield admin, store_url
    finally:
        server.stop()


def store_connection(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"conn_type": "sqlite", "host": url.removeprefix("sqlite:///")}
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "conn_type": "postgres",
        "host": parsed.host,
        "port": parsed.port,
        "login": parsed.username,
        "password": parsed.password,
        "schema": parsed.database,
    }


def run_campaign(conf: dict) -> tuple[object, float]:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag().get_dag("wechat_campaign")
    started = time.perf_counter()
    run = dag.test(run_conf=conf)
    return run, time.perf_counter() - started


def task_seconds(run) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for ti in run.get_task_instances():
        if ti.start_date and ti.end_date:
            seconds[ti.task_id] = seconds.get(ti.task_id, 0) + (ti.end_date - ti.start_date).total_seconds()
    return seconds


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
