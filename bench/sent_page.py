"""How fast the Sent page answers on a large history: 2,000 runs, one of them with 1,000,000 recipients.

    python bench/sent_page.py [--recipients 1000000] [--runs 2000] [--postgres URL]

Builds the store (SQLite by default) with the product's own schema, then renders the pages through the
plugin's FastAPI app in-process (login check bypassed: it is Airflow's, not ours) and prints each page's
median and worst time over 5 requests. Goal: every page under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from _harness import store_connection  # noqa: E402 - bench/ is on sys.path when run as a script

BIG = "wechat_campaign/manual__bench_one_million"


def build(url: str, recipients: int, runs: int) -> None:
    import sqlalchemy as sa

    from wechat_campaigns.store.db import engine_for, upgrade
    from wechat_campaigns.store.schema import recipients as ledger
    from wechat_campaigns.store.schema import runs as history

    upgrade(url)
    engine = engine_for(url)
    now = time.time()
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            sa.insert(history),
            [
                {
                    "run_key": f"wechat_campaign/manual__bench_{i:05d}",
                    "dag_id": "wechat_campaign",
                    "dag_run_id": f"manual__bench_{i:05d}",
                    "conn_id": f"wechat_{i % 3}",
                    "kind": ("mass", "template", "customer_service")[i % 3],
                    "audience": f"tag: t{i % 7}",
                    "content": "material text/welcome",
                    "status": "completed",
                    "created_at": now - i * 600,
                    "counts": {
                        "audience": 1000,
                        "eligible": 900,
                        "status": {"sent": 900, "excluded": 100},
                        "reasons": {},
                    },
                }
                for i in range(runs)
            ],
        )
        sent, excluded = int(recipients * 0.9), int(recipients * 0.05)
        counts = {
            "audience": recipients,
            "eligible": recipients - excluded,
            "status": {"sent": sent, "excluded": excluded, "failed": recipients - sent - excluded},
            "reasons": {"excluded:monthly_cap": excluded, "failed:blocked": recipients - sent - excluded},
        }
        connection.execute(
            sa.insert(history).values(
                run_key=BIG,
                dag_id="wechat_campaign",
                dag_run_id="manual__bench_one_million",
                conn_id="wechat_0",
                kind="template",
                audience="all followers",
                status="completed",
                created_at=now + 1,
                counts=counts,
            )
        )
    chunk = 50_000
    for start in range(0, recipients, chunk):
        rows = []
        for position in range(start, min(start + chunk, recipients)):
            status = "sent" if position < sent else "excluded" if position < sent + excluded else "failed"
            rows.append(
                {
                    "run_key": BIG,
                    "openid": f"oBench{position:022d}",
                    "position": position,
                    "status": status,
                    "reason": {"sent": None, "excluded": "monthly_cap", "failed": "blocked"}[status],
                    "msg_id": str(3717005636572528642 + position) if status == "sent" else None,
                    "delivery": "success" if status == "sent" else None,
                    "batch_no": position // 500,
                }
            )
        with engine.begin() as connection:
            connection.execute(sa.insert(ledger), rows)
    print(f"store built: {runs:,} runs and a {recipients:,}-recipient run in {time.perf_counter() - started:.1f} s")


def measure(url: str) -> dict[str, dict[str, float]]:
    os.environ["AIRFLOW_CONN_WECHAT_STORE"] = json.dumps(store_connection(url))
    from fastapi.testclient import TestClient

    from wechat_campaigns.integration.pages import READER, DagReader
    from wechat_campaigns.integration.sent_app import app

    class Everyone(DagReader):
        def readable(self, dag_ids: set[str]) -> set[str]:
            return dag_ids

    for dependency in app.router.dependencies:  # the login and permission checks are Airflow's; we measure ours
        app.dependency_overrides[dependency.dependency] = lambda: None
    app.dependency_overrides[READER.dependency] = lambda: Everyone(None)
    client = TestClient(app)
    pages = {
        "list (newest 50 of all runs)": "/",
        "list filtered (kind + tag)": "/?kind=template&tag=t3",
        "run page of the 1M-recipient run": f"/run?key={BIG}",
        "run page, recipients page 100": f"/run?key={BIG}&page=100",
        "run page, openid search": f"/run?key={BIG}&openid=oBench0000000000000000123",
        "JSON run + recipients": f"/api/run?key={BIG}&recipients=1",
        "JSON list": "/api/runs",
    }
    results = {}
    for name, path in pages.items():
        client.get(path)  # warm caches, as a marketer's second click would
        times = []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.get(path)
            times.append(time.perf_counter() - started)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        results[name] = {"median_s": statistics.median(times), "worst_s": max(times)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database to use instead of SQLite")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="bench-sent-"))
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    url = args.postgres or f"sqlite:///{home / 'store.db'}"
    build(url, args.recipients, args.runs)
    results = measure(url)
    width = max(map(len, results))
    for name, figures in results.items():
        print(
            f"{name:<{width}}  median {figures['median_s'] * 1000:7.1f} ms   worst {figures['worst_s'] * 1000:7.1f} ms"
        )
    slowest = max(f["worst_s"] for f in results.values())
    print(
        json.dumps(
            {
                "benchmark": "sent_page",
                "database": url.split(":")[0],
                "recipients": args.recipients,
                "slowest_s": slowest,
            }
        )
    )
    print("goal every page < 1 s:", "met" if slowest < 1 else "MISSED")
    return 0 if slowest < 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
