"""Template sends: what a user writes instead (a sequential loop) against our campaign through Airflow.

    python bench/template_campaign.py [--fans 200000] [--baseline-fans 20000] [--latency-ms 0] [--concurrency 16]

- **baseline**: one `requests` session, the tag's fans paged with user/tag/get, then `template/send` for
  each fan in turn (on `--baseline-fans` of them: a sequential loop is slow, its rate is what counts);
- **ours**: the `wechat_campaign` DAG end to end (validate, resolve, filter, plan, send, history) for every
  fan of the tag, in this process on the CPU the sandbox does not use.
`--latency-ms` makes the sandbox answer template/send that much later, as a real network would;
`--concurrency` is the account connection's `send_concurrency` (calls in flight in the send task).
Exits 1 unless every fan received the message exactly once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import APPID, ORDER_PAID, SECRET, TEMPLATE, bench_world, run_campaign, task_seconds


def baseline(base_url: str, fans: int) -> float:
    session = requests.Session()
    token = session.post(
        f"{base_url}/cgi-bin/stable_token",
        json={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
        timeout=10,
    ).json()["access_token"]
    tag_id = next(
        t["id"]
        for t in session.get(f"{base_url}/cgi-bin/tags/get", params={"access_token": token}).json()["tags"]
        if t["name"] == "crowd"
    )
    openids, next_openid = [], ""
    while len(openids) < fans:
        page = session.post(
            f"{base_url}/cgi-bin/user/tag/get",
            params={"access_token": token},
            json={"tagid": tag_id, "next_openid": next_openid},
        ).json()
        if not page.get("count"):
            break
        openids += page["data"]["openid"]
        next_openid = page["next_openid"]
    openids = openids[:fans]
    data = {key: {"value": value} for key, value in ORDER_PAID.items()}
    started = time.perf_counter()
    for i, openid in enumerate(openids):
        body = {"touser": openid, "template_id": TEMPLATE, "data": data, "client_msg_id": f"baseline-{i}"}
        answer = session.post(
            f"{base_url}/cgi-bin/message/template/send",
            params={"access_token": token},
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        ).json()
        assert answer["errcode"] == 0, answer
    return len(openids) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=200_000)
    parser.add_argument("--baseline-fans", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    with bench_world(args.fans, extra={"send_concurrency": args.concurrency}) as (admin, _store):
        if args.latency_ms:
            admin.faults([{"endpoint": "/cgi-bin/message/template/send", "latency_ms": args.latency_ms}])
        base_rate = baseline(admin.base_url, args.baseline_fans)
        print(f"baseline: sequential loop, {base_rate:,.0f} sends/s")
        conf = {"message_type": "template", "tag": "crowd", "template_id": TEMPLATE, "template_data": ORDER_PAID}
        before = admin.inbox_counts(APPID, kind="template")  # the baseline's fans hold its message already
        run, seconds = run_campaign(conf)
        assert run.state == "success", task_seconds(run)
        steps = task_seconds(run)
        received = admin.inbox_counts(APPID, kind="template")
        ours = {openid: count - before.get(openid, 0) for openid, count in received.items()}
        assert len(ours) == args.fans and set(ours.values()) == {1}, "every fan exactly once"
    send_rate = args.fans / steps["send"]
    end_to_end = args.fans / seconds
    for task, took in steps.items():
        print(f"  {task:<22} {took:6.1f} s")
    print(
        f"ours: {args.fans:,} fans in {seconds:.1f} s end to end ({end_to_end:,.0f} fans/s),"
        f" send step {send_rate:,.0f} sends/s"
    )
    print(f"ours / baseline: {send_rate / base_rate:.1f}x (send step), {end_to_end / base_rate:.1f}x (end to end)")
    print(
        json.dumps(
            {
                "benchmark": "template",
                "latency_ms": args.latency_ms,
                "concurrency": args.concurrency,
                "fans": args.fans,
                "baseline_per_s": round(base_rate),
                "ours_send_per_s": round(send_rate),
                "ours_end_to_end_per_s": round(end_to_end),
                "seconds": round(seconds, 1),
                "steps": steps,
            }
        )
    )
    return 0  # the goals (>= 20x the baseline, >= 70% of the ceiling) are judged by `python -m bench`


if __name__ == "__main__":
    raise SystemExit(main())
