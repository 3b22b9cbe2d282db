"""``python -m bench`` (``make bench``): every benchmark, one after the other, then one table with the ratios.

Each script prints its own figures and one JSON line with a ``benchmark`` key; this runner collects those
lines. PostgreSQL runs use fresh databases on 127.0.0.1:5432 and are left out, with a note, when no server
answers there. Results and the commands that produced them are recorded in bench/README.md.
"""

from __future__ import annotations

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
    runs = [
        ("sandbox ceiling (template/send, minimal client)", ["sandbox_throughput.py"]),
        ("template campaign, 200,000 fans: baseline loop vs ours", ["template_campaign.py"]),
        ("sandbox ceiling with 20 ms network latency", ["sandbox_throughput.py", *LATENCY]),
        (
            "template campaign with 20 ms network latency",
            ["template_campaign.py", *LATENCY, "--concurrency", "64", "--baseline-fans", "2000"],
        ),
        ("planning 1,000,000 fans on SQLite", ["planning_scale.py"]),
        ("mass send to a 1,000,000-fan tag", ["mass_send.py"]),
        ("Sent page with a 1,000,000-recipient run on SQLite", ["sent_page.py"]),
    ]
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


def table(figures: list[dict]) -> list[tuple[str, str, str]]:
    """(what, measured, goal) rows from the benchmarks' JSON lines."""
    by_kind: dict[str, list[dict]] = {}
    for figure in figures:
        by_kind.setdefault(figure["benchmark"], []).append(figure)
    ceilings = {c["latency_ms"]: c["sends_per_second"] for c in by_kind.get("ceiling", [])}
    rows = []
    for latency, ceiling in ceilings.items():
        rows.append((f"ceiling: sandbox template/send, minimal client{_network(latency)}", f"{ceiling:,.0f}/s", "-"))
    for t in by_kind.get("template", []):
        ours, baseline, ceiling = t["ours_send_per_s"], t["baseline_per_s"], ceilings.get(t["latency_ms"])
        where = _network(t["latency_ms"])
        rows += [
            (f"baseline: sequential requests loop{where}", f"{baseline:,}/s", "-"),
            (f"ours: {t['fans']:,}-fan template campaign, send step{where}", f"{ours:,}/s", "-"),
            (f"ours / baseline, send step{where}", f"{ours / baseline:.1f}x", ">= 20x"),
            (f"ours / baseline, end to end{where}", f"{t['ours_end_to_end_per_s'] / baseline:.1f}x", "-"),
        ]
        if ceiling:
            rows.append((f"ours / ceiling, send step{where}", f"{ours / ceiling:.0%}", ">= 70%"))
    for p in by_kind.get("planning", []):
        measured = f"{p['seconds']} s, {p['peak_mib']} MiB"
        rows.append((f"{p['fans']:,}-fan dry run on {p['database']}", measured, "< 60 s, < 1 GiB"))
    for m in by_kind.get("mass", []):
        calls = ", ".join(f"{n} {path}" for path, n in m["mass_calls"].items() if n)
        rows.append(
            (f"mass to {m['fans']:,} fans, {m['capped']:,} capped", f"{calls}, {m['seconds']} s", "<= 100 calls")
        )
    for s in by_kind.get("sent_page", []):
        rows.append((f"Sent page, slowest page, {s['database']}", f"{s['slowest_s'] * 1000:.0f} ms", "< 1 s"))
    return rows


def _network(latency_ms: float) -> str:
    return f" ({latency_ms:g} ms latency)" if latency_ms else ""


def main() -> int:
    figures, failed = [], []
    for title, (script, *args) in benchmarks():
        print(f"\n== {title}", flush=True)
        code, found = run(script, *args)
        figures += found
        if code:
            failed.append(title)
    rows = [("benchmark", "measured", "goal"), *table(figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    if failed:
        print(f"\nmissed their goal or failed: {'; '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
