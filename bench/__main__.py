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
        ("template campaign 200,000 fans: baseline loop vs ours", ["template_campaign.py"]),
        ("planning 1,000,000 fans on SQLite", ["planning_scale.py"]),
        ("mass send to a 1,000,000-fan tag", ["mass_send.py"]),
        ("Sent page with a 1,000,000-recipient run on SQLite", ["sent_page.py"]),
    ]
    if planning_db := fresh_postgres("bench_planning"):
        runs.insert(3, ("planning 1,000,000 fans on PostgreSQL", ["planning_scale.py", "--postgres", planning_db]))
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
    rows = []
    by_kind = {}
    for figure in figures:
        by_kind.setdefault(figure["benchmark"], []).append(figure)
    ceiling = next(iter(by_kind.get("ceiling", [])), {}).get("sends_per_second")
    if ceiling:
        rows.append(("ceiling: sandbox template/send, minimal client", f"{ceiling:,.0f}/s", "-"))
    for t in by_kind.get("template", []):
        rows.append(("baseline: sequential requests loop", f"{t['baseline_per_s']:,}/s", "-"))
        rows.append((f"ours: {t['fans']:,}-fan template campaign, send step", f"{t['ours_send_per_s']:,}/s", "-"))
        rows.append(("ours / baseline (send step)", f"{t['ours_send_per_s'] / t['baseline_per_s']:.1f}x", ">= 20x"))
        rows.append(("ours / baseline (end to end)", f"{t['ours_end_to_end_per_s'] / t['baseline_per_s']:.1f}x", "-"))
        if ceiling:
            rows.append(("ours / ceiling (send step)", f"{t['ours_send_per_s'] / ceiling:.0%}", ">= 70%"))
    for p in by_kind.get("planning", []):
        rows.append(
            (
                f"{p['fans']:,}-fan dry run on {p['database']}",
                f"{p['seconds']} s, {p['peak_mib']} MiB",
                "< 60 s, < 1 GiB",
            )
        )
    for m in by_kind.get("mass", []):
        calls = ", ".join(f"{n} {path}" for path, n in m["mass_calls"].items() if n)
        rows.append(
            (f"mass to {m['fans']:,} fans, {m['capped']:,} capped", f"{calls} ({m['seconds']} s)", "<= 100 calls")
        )
    for s in by_kind.get("sent_page", []):
        rows.append((f"Sent page, slowest page, {s['database']}", f"{s['slowest_s'] * 1000:.0f} ms", "< 1 s"))
    return rows


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
