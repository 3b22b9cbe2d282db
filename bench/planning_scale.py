"""A 1,000,000-fan dry run through the campaign DAG: resolve the tag (WeChat's pages), filter, plan, render
every fan's template values (Jinja2), write the ledger and the history — nothing sent.

    python bench/planning_scale.py [--fans 1000000] [--postgres URL]

Goals: under 60 s, peak memory under 1 GiB (this process: Airflow and the DAG run in it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import APPID, ORDER_PAID, TEMPLATE, bench_world, peak_memory_mib, run_campaign, task_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="PostgreSQL URL of an empty database for the campaign store")
    args = parser.parse_args(argv)
    with bench_world(args.fans, store=args.postgres) as (admin, store_url):
        data = {**ORDER_PAID, "character_string2": "SO{{ openid[-6:] }}"}  # rendered for each fan
        conf = {
            "message_type": "template",
            "tag": "crowd",
            "template_id": TEMPLATE,
            "template_data": data,
            "dry_run": True,
        }
        run, seconds = run_campaign(conf)
        assert run.state == "success", task_seconds(run)
        from wechat_campaigns.store import history
        from wechat_campaigns.store.db import engine_for

        row = history.get_run(engine_for(store_url), f"{run.dag_id}/{run.run_id}")
        assert row["counts"]["status"] == {"planned": args.fans}, row["counts"]
        assert admin.inbox_counts(APPID) == {}
    memory = peak_memory_mib()
    steps = task_seconds(run)
    for task, took in steps.items():
        print(f"  {task:<22} {took:6.1f} s")
    print(f"{args.fans:,}-fan dry run: {seconds:.1f} s end to end, peak memory {memory:.0f} MiB")
    ok = seconds < 60 and memory < 1024
    print(
        json.dumps(
            {
                "benchmark": "planning",
                "database": store_url.split(":")[0],
                "fans": args.fans,
                "seconds": round(seconds, 1),
                "peak_mib": round(memory),
                "steps": steps,
            }
        )
    )
    print("goal < 60 s and < 1 GiB:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
