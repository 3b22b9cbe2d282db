"""A mass message (群发) to a 1,000,000-fan tag through the campaign DAG, counting WeChat API calls.

    python bench/mass_send.py [--fans 1000000] [--capped 1000]

Two runs, each on a fresh sandbox and store (a service account may make 100 mass calls a day):
- **whole tag**: nobody in the tag is filtered out, so the campaign sends one ``mass/sendall`` by tag;
- **some capped**: ``--capped`` fans already received 4 mass messages this month (imported receipts), so the
  campaign sends to the others by openid list, 10,000 per ``mass/send``.
Goal: every eligible fan's inbox holds the message, in at most 100 mass calls (the daily budget).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import APPID, bench_world, peak_memory_mib, run_campaign, task_seconds

MASS_PATHS = ("/cgi-bin/message/mass/sendall", "/cgi-bin/message/mass/send")
BUDGET = 100


def capped_receipts(count: int) -> list[dict]:
    """Four receipts this month for the first ``count`` fans of the tag (as a data engineer would import)."""
    now = time.time()
    return [
        {
            "openid": f"oBench{index:022d}",
            "receipt_key": f"console-{index}-{n}",
            "received_at": now - n,
            "source": "bench",
        }
        for index in range(count)
        for n in range(4)
    ]


def one_run(fans: int, capped: int) -> dict:
    with bench_world(fans) as (admin, store_url):
        if capped:
            from wechat_campaigns.store.db import engine_for
            from wechat_campaigns.store.fans import add_receipts

            add_receipts(engine_for(store_url), APPID, capped_receipts(capped))
        conf = {"message_type": "mass", "tag": "crowd", "text": "双十二预告：全场满 199 减 30。"}
        run, seconds = run_campaign(conf)
        assert run.state == "success", task_seconds(run)
        stats = admin.stats(APPID)
        calls = stats["calls"]
        assert not stats["errors"], stats["errors_by_path"]  # no 45011: the client paces itself at 60 a minute
        received = admin.inbox_counts(APPID, kind="mass")
    assert len(received) == fans - capped and set(received.values()) == {1}, (len(received), capped)
    return {
        "benchmark": "mass",
        "fans": fans,
        "capped": capped,
        "mass_calls": {path.rsplit("/", 1)[1]: calls.get(path, 0) for path in MASS_PATHS},
        "reached": len(received),
        "seconds": round(seconds, 1),
        "steps": task_seconds(run),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=1_000_000)
    parser.add_argument("--capped", type=int, default=1_000)
    args = parser.parse_args(argv)
    ok = True
    for capped in (0, args.capped):
        result = one_run(args.fans, capped)
        total = sum(result["mass_calls"].values())
        ok &= total <= BUDGET
        calls = ", ".join(f"{n} {path}" for path, n in result["mass_calls"].items() if n)
        print(
            f"{args.fans:,} fans, {capped:,} capped: {result['reached']:,} reached with {calls}"
            f" in {result['seconds']:.1f} s end to end"
        )
        print(json.dumps(result | {"peak_mib": round(peak_memory_mib())}))
    print(f"goal <= {BUDGET} mass calls per 1,000,000-fan send:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
