"""``python -m bench`` (``make bench``): every benchmark, one after the other, then one table with the ratios.
``--only transport.py --only sandbox_throughput.py`` runs those scripts' rows alone.

Each script prints its own figures and one JSON line with a ``benchmark`` key; this runner collects those
lines. PostgreSQL runs use fresh databases on 127.0.0.1:5432 and are left out, with a note, when no server
answers there. Results and the commands that produced them are recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
LATENCY = ["--latency-ms", "20"]  # a WeChat API call from a server in China: tens of milliseconds


def fresh_postgres(name: str) -> str | None:
    """URL of an empty database ``name``, or None when PostgreSQL is not reachable."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL runs left out: {exc.orig}".splitlines()[0])
        return None
    return f"{PG_SERVER}/{name}"


def benchmarks() -> list[tuple[str, list[str]]]:
    # Ours keeps as many calls in flight as the ceiling client does: 64 on loopback, 512 at 20 ms. The ceiling
    # client sends to as many fans, and as many messages, as the campaign does: a sandbox holding 200,000 fans
    # and filling their inboxes serves fewer calls a second than a fresh one.
    world = ["--fans", "200000", "--seconds", "20"]
    runs = [
        ("sandbox ceiling (template/send, minimal client, 64 connections)", ["sandbox_throughput.py", *world]),
        ("the transport alone: per-fan template sends, 64 in flight", ["transport.py", "--connections", "64"]),
        (
            "template campaign, 200,000 fans, send_concurrency 64: baseline loop vs ours",
            ["template_campaign.py", "--concurrency", "64"],
        ),
        (
            "sandbox ceiling with 20 ms network latency (512 connections)",
            ["sandbox_throughput.py", *world, *LATENCY, "--connections", "512"],
        ),
        (
            "the transport alone with 20 ms network latency, 512 in flight",
            ["transport.py", *LATENCY, "--connections", "512", "--loop-fans", "500"],
        ),
        (
            "template campaign with 20 ms network latency, send_concurrency 512",
            ["template_campaign.py", *LATENCY, "--concurrency", "512", "--baseline-fans", "2000"],
        ),
        ("planning 1,000,000 fans on SQLite", ["planning_scale.py"]),
        ("mass send to a 1,000,000-fan tag", ["mass_send.py"]),
        ("Sent page with a 1,000,000-recipient run on SQLite", ["sent_page.py"]),
    ]
    for stored in (0, 1_000_000):
        runs.append(
            (f"callback receiver on SQLite, {stored:,} events stored", ["callbacks.py", "--stored", str(stored)])
        )
        if callbacks_db := fresh_postgres(f"bench_callbacks_{stored}"):
            runs.append(
                (
                    f"callback receiver on PostgreSQL, {stored:,} events stored",
                    ["callbacks.py", "--stored", str(stored), "--postgres", callbacks_db],
                )
            )
    if planning_db := fresh_postgres("bench_planning"):
        runs.append(("planning 1,000,000 fans on PostgreSQL", ["planning_scale.py", "--postgres", planning_db]))
    if sent_db := fresh_postgres("bench_sent"):
        runs.append(("Sent page with a 1,000,000-recipient run on PostgreSQL", ["sent_page.py", "--postgres", sent_db]))
    return runs


def run(script: str, *args: str) -> tuple[int, list[dict]]:
    """Runs one script, echoing its output, and returns its exit code and JSON figures."""
    process = subprocess.Popen([sys.executable, str(HERE / script), *args], stdout=subprocess.PIPE, text=True)
    figures = []
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith("{"):
            figures.append(json.loads(line))
    return process.wait(), figures


def table(figures: list[dict]) -> list[tuple[str, str, str, str]]:
    """(what, measured, goal, verdict) rows from the benchmarks' JSON lines."""
    by_kind: dict[str, list[dict]] = {}
    for figure in figures:
        by_kind.setdefault(figure["benchmark"], []).append(figure)
    ceilings = {c["latency_ms"]: c for c in by_kind.get("ceiling", [])}
    rows = []
    for latency, c in ceilings.items():
        what = f"ceiling: sandbox template/send, {c['connections']} connections{_network(latency)}"
        rows.append((what, f"{c['sends_per_second']:,.0f}/s", "-", ""))
    for t in by_kind.get("template", []):
        ours, baseline, where = t["ours_send_per_s"], t["baseline_per_s"], _network(t["latency_ms"])
        ceiling = ceilings[t["latency_ms"]]["sends_per_second"] if t["latency_ms"] in ceilings else None
        rows += [
            (f"baseline: sequential requests loop{where}", f"{baseline:,}/s", "-", ""),
            (f"ours: {t['fans']:,}-fan template campaign, send step{where}", f"{ours:,}/s", "-", ""),
            (f"ours / baseline, send step{where}", f"{ours / baseline:.1f}x", ">= 20x", _versus_baseline(t, ceiling)),
            (f"ours / baseline, end to end{where}", f"{t['ours_end_to_end_per_s'] / baseline:.1f}x", "-", ""),
        ]
        if ceiling:
            rows.append(
                (f"ours / ceiling, send step{where}", f"{ours / ceiling:.0%}", ">= 70%", _met(ours >= 0.7 * ceiling))
            )
    for t in by_kind.get("transport", []):
        rows += _transport_rows(t, ceilings.get(t["latency_ms"]))
    for p in by_kind.get("planning", []):
        measured = f"{p['seconds']} s, {p['peak_mib']} MiB"
        ok = p["seconds"] < 60 and p["peak_mib"] < 1024
        rows.append((f"{p['fans']:,}-fan dry run on {p['database']}", measured, "< 60 s, < 1 GiB", _met(ok)))
    for m in by_kind.get("mass", []):
        calls = ", ".join(f"{n} {path}" for path, n in m["mass_calls"].items() if n)
        ok = sum(m["mass_calls"].values()) <= 100
        rows.append(
            (
                f"mass to {m['fans']:,} fans, {m['capped']:,} capped",
                f"{calls}, {m['seconds']} s",
                "<= 100 calls",
                _met(ok),
            )
        )
    for s in by_kind.get("sent_page", []):
        slowest = s["slowest_s"]
        rows.append(
            (f"Sent page, slowest page, {s['database']}", f"{slowest * 1000:.0f} ms", "< 1 s", _met(slowest < 1))
        )
    rows += _callback_rows(by_kind.get("callbacks", []))
    return rows


def _transport_rows(t: dict, ceiling: dict | None) -> list[tuple[str, str, str, str]]:
    where, rate = _network(t["latency_ms"]), t["sends_per_s"]
    measured = f"{rate:,}/s, {t['cpu_us_per_call']} µs CPU per call"
    ratio = rate / t["sequential_per_s"]
    rows = [
        (f"transport: per-fan sends, {t['connections']} in flight{where}", measured, "-", _met(t["each_fan_once"])),
        (f"transport / sequential loop{where}", f"{ratio:.1f}x", ">= 20x", _met(ratio >= 20) if where else ""),
    ]
    if ceiling:
        share = rate / ceiling["sends_per_second"]
        rows.append((f"transport / ceiling{where}", f"{share:.0%}", ">= 70%", _met(share >= 0.7)))
    return rows


CALLBACK_GOALS = {"PostgreSQL": 2_000, "SQLite": 500}  # pushes/s from one receiver process


def _callback_rows(figures: list[dict]) -> list[tuple[str, str, str, str]]:
    rows = []
    empty = {f["database"]: f for f in figures if f["stored"] == 0}
    for f in figures:
        goal = CALLBACK_GOALS[f["database"]]
        measured = f"{f['pushes_per_s']:,}/s, p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms"
        ok = f["pushes_per_s"] >= goal and f["p99_ms"] < 250 and f["delivered"] == f["reports"]
        what = f"callback pushes, {f['database']}, {f['stored']:,} events stored"
        rows.append((what, measured, f">= {goal:,}/s, p99 < 250 ms", _met(ok)))
        base = empty.get(f["database"])
        if f["stored"] and base:
            ratio = f["pushes_per_s"] / base["pushes_per_s"]
            what = f"callback pushes, {f['database']}, {f['stored']:,} stored vs empty"
            rows.append((what, f"{ratio:.0%}", ">= 90%", _met(ratio >= 0.9)))
    return rows


def _versus_baseline(t: dict, ceiling: float | None) -> str:
    if t["ours_send_per_s"] >= 20 * t["baseline_per_s"]:
        return "met"
    if ceiling and ceiling < 20 * t["baseline_per_s"]:  # on loopback the sandbox itself is not 20x the loop
        return f"out of reach: the ceiling is {ceiling / t['baseline_per_s']:.1f}x"
    return "MISSED"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _network(latency_ms: float) -> str:
    return f" ({latency_ms:g} ms latency)" if latency_ms else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Every benchmark, then one table with the goals.")
    parser.add_argument(
        "--only", action="append", metavar="SCRIPT", help="run only these scripts (e.g. transport.py); repeatable"
    )
    only = parser.parse_args(argv).only
    figures, failed = [], []
    for title, (script, *args) in benchmarks():
        if only and script not in only:
            continue
        print(f"\n== {title}", flush=True)
        code, found = run(script, *args)
        figures += found
        if code:
            failed.append(title)
    rows = [("benchmark", "measured", "goal", ""), *table(figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    missed = [row[0] for row in rows if row[3] == "MISSED"]
    if failed or missed:
        print(f"\nfailed: {'; '.join(failed) or '-'}; missed: {'; '.join(missed) or '-'}")
    return 1 if failed or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
