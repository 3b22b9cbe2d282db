"""The WeChat transport alone: per-fan template sends through ``WeChatClient.start_template_sends`` (aiohttp on
one event loop), its CPU per call, against the sandbox's ceiling and a sequential loop.

    .venv/bin/python bench/transport.py [--fans 100000] [--connections 64] [--latency-ms 0]

The sandbox runs pinned to CPU 0 and this process to the other CPU. ``--fans`` sends go out in batches of
5,000, each started while the one before is in flight (as a send task does), all through one client with
``--connections`` calls in flight (a send task prepares its next batch meanwhile; here they are all
prepared first). CPU per call is this process's CPU time (every thread) over the calls.
The sequential loop is one ``requests`` session sending one template after another (on ``--loop-fans``).
Every fan's inbox is checked to hold the message once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

import requests  # noqa: E402 - after making the repository importable

from bench.sandbox_throughput import APPID, PATH, SECRET, TEMPLATE_ID, prepare  # noqa: E402
from wechat_campaigns.wechat.api.template import TemplateMessage, TemplateSendResult  # noqa: E402
from wechat_campaigns.wechat.client import WeChatClient  # noqa: E402
from wechat_campaigns.wechat.transport import CallGroup, fewer_collections  # noqa: E402
from wechat_sandbox.admin import SandboxAdmin  # noqa: E402
from wechat_sandbox.launch import SandboxServer  # noqa: E402

BATCH = 5_000
DATA = {"thing1": "巧克力礼盒", "character_string2": "SO2026001", "amount3": "39.80元", "time4": "2026-01-02 15:01"}


def sequential(base_url: str, token: str, openids: list[str]) -> float:
    """Sends per second of one template after another on one keep-alive session."""
    session = requests.Session()
    data = {key: {"value": value} for key, value in DATA.items()}
    started = time.perf_counter()
    for i, openid in enumerate(openids):
        body = {"touser": openid, "template_id": TEMPLATE_ID, "data": data, "client_msg_id": f"loop-{i}"}
        answer = session.post(
            f"{base_url}{PATH}",
            params={"access_token": token},
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        ).json()
        assert answer.get("errcode") == 0, answer
    return len(openids) / (time.perf_counter() - started)


def ours(base_url: str, openids: list[str], connections: int) -> tuple[float, float, int]:
    """(sends/s, µs of CPU per call, errors) for every fan through one client."""
    client = WeChatClient(APPID, SECRET, base_url=base_url)
    group = CallGroup(connections, lambda exc: False)
    batches = [openids[i : i + BATCH] for i in range(0, len(openids), BATCH)]
    client.tokens.current()  # the token fetch is not what is measured
    cpu, started = time.process_time(), time.perf_counter()
    in_flight = []
    with fewer_collections():  # as a send task's per-fan sends run
        for number, batch in enumerate(batches):
            messages = [TemplateMessage(o, TEMPLATE_ID, DATA, f"ours-{number}-{i}") for i, o in enumerate(batch)]
            in_flight.append(client.start_template_sends(messages, group))  # queues behind the one in flight
        answers = [answer for started in in_flight for answer in started.result()]
    errors = sum(not isinstance(answer, TemplateSendResult) for answer in answers)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    client.close()
    return len(openids) / wall, cpu / len(openids) * 1e6, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=100_000)
    parser.add_argument("--loop-fans", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    sandbox = SandboxServer(cpu=cpus[0])
    base_url = sandbox.start()
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))
    try:
        token, openids = prepare(base_url, args.fans + args.loop_fans, args.latency_ms)
        loop_rate = sequential(base_url, token, openids[args.fans :])
        rate, cpu_us, errors = ours(base_url, openids[: args.fans], args.connections)
        received = SandboxAdmin(base_url, timeout=300).inbox_counts(APPID, kind="template")
    finally:
        sandbox.stop()
    once = all(received.get(openid) == 1 for openid in openids[: args.fans])
    result = {
        "benchmark": "transport",
        "fans": args.fans,
        "connections": args.connections,
        "latency_ms": args.latency_ms,
        "sends_per_s": round(rate),
        "cpu_us_per_call": round(cpu_us, 1),
        "sequential_per_s": round(loop_rate),
        "errors": errors,
        "each_fan_once": once,
    }
    print(
        f"transport: {rate:,.0f} template sends/s with {args.connections} in flight, {cpu_us:.1f} µs of CPU per call; "
        f"sequential loop {loop_rate:,.0f}/s ({rate / loop_rate:.1f}x); {errors} errors; every fan once: {once}"
    )
    print(json.dumps(result))
    return 0 if once and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
