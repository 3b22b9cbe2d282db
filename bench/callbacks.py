"""How many WeChat pushes one receiver process takes, with an empty store and with a million events stored.

    python bench/callbacks.py [--stored 1000000] [--pushes 20000] [--rounds 3] [--concurrency 32] [--postgres URL]

Starts ``wechat-campaigns serve-callbacks --workers 1`` (pinned to CPU 0) on a fresh store (SQLite by default)
that already holds ``--stored`` callback events of the account and a template run whose recipients' msg_ids
the pushes report on. An aiohttp client (on the other CPU) then sends signed pushes, ``--concurrency`` at a
time: nine in ten TEMPLATESENDJOBFINISH for those recipients, one in ten a fan's text message. It prints
pushes/s of each round and of the median round with its answer times' p50/p99, checks that every report
reached its recipient, and prints one JSON line. Goals: >= 2,000 pushes/s on PostgreSQL and >= 500/s on
SQLite, p99 < 250 ms, and the figure with a million stored events within 10 % of the empty store's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

APPID, TOKEN, CONN_ID = "wxbenchcallbacks001", "bench-callback-token", "wechat_bench"
RUN_KEY = "wechat_campaign/manual__bench_callbacks"
FILL_CHUNK = 50_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=0, help="callback events already in the store")
    parser.add_argument("--pushes", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --pushes; the median round is reported")
    parser.add_argument("--postgres", help="an empty PostgreSQL database (default: a SQLite file)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wechat-bench-callbacks-"))
    url = args.postgres or f"sqlite:///{home / 'store.db'}"
    database = "PostgreSQL" if args.postgres else "SQLite"
    reports = args.pushes * 9 // 10 * args.rounds
    started = time.perf_counter()
    fill(url, args.stored, reports)
    print(
        f"{database}: {args.stored:,} events and {reports:,} recipients stored in {time.perf_counter() - started:.0f} s"
    )
    receiver, port = start_receiver(home, url)
    rounds = []
    try:
        for r in range(args.rounds):  # this machine's other work moves one round's figure by 10-20 %
            before = cpu_now(receiver)
            latencies, seconds = asyncio.run(
                send_pushes(port, range(r * args.pushes, (r + 1) * args.pushes), args, reports)
            )
            used = [(after - then) / args.pushes * 1e6 for after, then in zip(cpu_now(receiver), before, strict=True)]
            rounds.append((args.pushes / seconds, latencies))
            print(
                f"  round {r + 1}: {args.pushes:,} pushes in {seconds:.1f} s: {rounds[-1][0]:,.0f}/s "
                f"(CPU per push: receiver {used[0]:.0f} µs, client {used[1]:.0f} µs)"
            )
    finally:
        receiver.terminate()
        receiver.wait(30)
    delivered = count_delivered(url)
    rate, latencies = sorted(rounds, key=lambda found: found[0])[len(rounds) // 2]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"median round: {rate:,.0f}/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
        f"{delivered:,} of {reports:,} reports reached their recipient"
    )
    print(
        json.dumps(
            {
                "benchmark": "callbacks",
                "database": database,
                "stored": args.stored,
                "pushes": args.pushes,
                "concurrency": args.concurrency,
                "rounds": [round(found[0]) for found in rounds],
                "pushes_per_s": round(rate),
                "p50_ms": round(p50 * 1000, 1),
                "p99_ms": round(p99 * 1000, 1),
                "reports": reports,
                "delivered": delivered,
            }
        )
    )
    return 0 if delivered == reports else 1


def fill(url: str, stored: int, reports: int) -> None:
    """``stored`` old text-message events of the account, and a sent template run of ``reports`` fans."""
    import sqlalchemy as sa

    from wechat_campaigns.store.db import engine_for, insert_ignoring_duplicates, upgrade
    from wechat_campaigns.store.schema import callback_events, recipients

    upgrade(url)
    engine = engine_for(url)
    old = time.time() - 30 * 86_400
    for start in range(0, stored, FILL_CHUNK):
        rows = [
            {
                "appid": APPID,
                "dedupe_key": f"msg:old{i}",
                "msg_type": "text",
                "openid": fan(i),
                "created_at": int(old) + i,
                "received_at": old + i,
                "outcome": "interaction:text",
                "payload": {"MsgType": "text", "Content": "你好", "MsgId": f"old{i}"},
            }
            for i in range(start, min(stored, start + FILL_CHUNK))
        ]
        with engine.begin() as connection:
            insert_ignoring_duplicates(connection, callback_events, rows)
    for start in range(0, reports, FILL_CHUNK):
        rows = [
            {"run_key": RUN_KEY, "openid": fan(i), "position": i, "status": "sent", "msg_id": str(10**12 + i)}
            for i in range(start, min(reports, start + FILL_CHUNK))
        ]
        with engine.begin() as connection:
            insert_ignoring_duplicates(connection, recipients, rows)
    # A store that gathered its events over months is checkpointed and vacuumed: so is this one, so that the
    # figures measure each push's own cost, not the clean-up after a bulk load.
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
            connection.execute(sa.text("CHECKPOINT"))  # the bulk load's pages written now, not during the rounds
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def fan(i: int) -> str:
    return f"oBenchCallbackFan{i:011d}"


def start_receiver(home: Path, url: str) -> tuple[subprocess.Popen, int]:
    from tests.fixtures.airflow import free_port, wait_until_up

    port = free_port()
    if url.startswith("sqlite:///"):
        store = json.dumps({"conn_type": "sqlite", "host": url.removeprefix("sqlite:///")})
    else:
        store = url.replace("postgresql+psycopg2://", "postgresql://")
    account = {"conn_type": "wechat_mp", "login": APPID, "password": "s", "extra": {"callback_token": TOKEN}}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW_CONN_WECHAT_STORE": store,
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(account),
    }
    cli = Path(sys.executable).with_name("wechat-campaigns")
    log = (home / "receiver.log").open("w")
    command = ["taskset", "-c", "0", str(cli), "serve-callbacks", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_until_up(f"http://127.0.0.1:{port}", process, home / "receiver.log", health="/health")
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})
    return process, port


def push_body(i: int, reports: int) -> bytes:
    created = int(time.time())
    if i % 10 == 9:  # a fan's text message
        return (
            f"<xml><ToUserName>gh_bench</ToUserName><FromUserName>{fan(i)}</FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType>text</MsgType><Content>有优惠吗</Content>"
            f"<MsgId>{7 * 10**15 + i}</MsgId></xml>"
        ).encode()
    n = (i - i // 10) % reports  # the i-th report goes to the n-th recipient
    return (
        f"<xml><ToUserName>gh_bench</ToUserName><FromUserName>{fan(n)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event>"
        f"<MsgID>{10**12 + n}</MsgID><Status>success</Status></xml>"
    ).encode()


def signed_query(i: int) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), f"n{i}"
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": "bench"}


async def send_pushes(port: int, pushes: range, args: argparse.Namespace, reports: int) -> tuple[list[float], float]:
    import aiohttp

    url = f"http://127.0.0.1:{port}/wechat/callback/{CONN_ID}"
    latencies: list[float] = []
    queue = iter(pushes)
    concurrency = args.concurrency
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            began = time.perf_counter()
            async with session.post(url, params=signed_query(i), data=push_body(i, reports)) as answer:
                text = await answer.text()
            if answer.status != 200 or text != "success":
                raise RuntimeError(f"push {i}: HTTP {answer.status} {text[:200]}")
            latencies.append(time.perf_counter() - began)

        async def worker() -> None:
            for i in queue:
                await one(i)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def count_delivered(url: str) -> int:
    import sqlalchemy as sa

    from wechat_campaigns.store.db import engine_for
    from wechat_campaigns.store.schema import recipients

    with engine_for(url).connect() as connection:
        return connection.scalar(
            sa.select(sa.func.count()).where(recipients.c.run_key == RUN_KEY, recipients.c.delivery == "success")
        )


def cpu_now(receiver: subprocess.Popen) -> tuple[float, float]:
    """CPU seconds the receiver (Linux: user and system) and this client have used so far: what a push costs
    each, apart from the machine's other work."""
    fields = Path(f"/proc/{receiver.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), time.process_time()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


if __name__ == "__main__":
    raise SystemExit(main())
