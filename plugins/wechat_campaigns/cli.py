"""``wechat-campaigns``: the history and the data engineer's imports, from a terminal.

    wechat-campaigns history [--json] [--kind K] [--status S] [--limit N]
    wechat-campaigns history RUN [--json] [--recipient-status S] [--limit N]
    wechat-campaigns import receipts|interactions|fans FILE [--conn wechat_default]
    wechat-campaigns serve-callbacks [--host H] [--port 8081] [--workers N]
    wechat-campaigns prune-callbacks [--older-than-days 90]
    wechat-campaigns migrate
    wechat-campaigns pools [CONN_ID ...]

The store is the ``wechat_store`` Airflow connection (or ``--store URL``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tabulate import tabulate

from .campaigns.sent import delivery, display_status, recipient
from .domain.clock import SHANGHAI
from .integration.run_states import airflow_states, state_of
from .store import history, ledger
from .store.db import SchemaMismatch, StoreNotConfigured, engine_for, ready, upgrade


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("wechat_campaigns").setLevel(logging.WARNING)  # Airflow logs to stdout: keep --json clean
    try:
        url = _store(args)
    except (SchemaMismatch, StoreNotConfigured) as exc:  # not migrated, or by a newer release; no shared store
        print(f"wechat-campaigns: {exc}", file=sys.stderr)
        return 2
    return args.handler(args, url)


def _store(args: argparse.Namespace) -> str:
    """The store, migrated by ``migrate`` only; every other command that uses it needs it current (the embedded
    default store migrates itself)."""
    if not getattr(args, "needs_store", True):
        return ""
    if args.handler is _migrate:
        url = args.store or _default_store()
        upgrade(url)
        return url
    if args.store:
        return ready(args.store)
    from .integration.hook import ready_store

    return ready_store()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wechat-campaigns", description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="SQLAlchemy URL of the campaign store (default: the wechat_store connection)")
    commands = parser.add_subparsers(required=True)

    show = commands.add_parser("history", help="campaign runs, or one run's recipients")
    show.add_argument("run", nargs="?", help="a run key (dag_id/run_id) or its unique end")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--kind", choices=["mass", "customer_service", "template"])
    show.add_argument("--status")
    show.add_argument("--recipient-status", help="with RUN: only recipients in this status (sent, excluded, ...)")
    show.add_argument("--limit", type=int, default=50)
    show.set_defaults(handler=_history)

    load = commands.add_parser("import", help="load a data engineer's CSV file into the store")
    load.add_argument("what", choices=["receipts", "interactions", "fans"])
    load.add_argument("file", type=Path)
    load.add_argument("--conn", default="wechat_default", help="the account's wechat_mp connection")
    load.set_defaults(handler=_import)

    from .integration.accounts import sync_pools

    pools = commands.add_parser("pools", help="one Airflow pool per wechat_mp connection, its send_slots slots")
    pools.add_argument("conn_ids", nargs="*", help="only these connections (default: every wechat_mp one found)")
    pools.set_defaults(handler=lambda args, url: sync_pools(args.conn_ids), needs_store=False)  # Airflow's own

    serve = commands.add_parser(
        "serve-callbacks", help="the callback receiver on its own, for accounts whose pushes would load the UI"
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")  # noqa: S104
    serve.add_argument("--port", type=int, default=8081)
    serve.add_argument("--workers", type=int, default=1, help="processes (each one core's worth of pushes)")
    serve.set_defaults(handler=_serve_callbacks)

    prune = commands.add_parser("prune-callbacks", help="delete stored pushes older than a number of days")
    prune.add_argument("--older-than-days", type=int, default=90, help="default 90, as the maintenance DAG")
    prune.set_defaults(handler=_prune_callbacks)

    migrate = commands.add_parser("migrate", help="bring the store's schema up to date")
    migrate.set_defaults(handler=_migrate)
    return parser


def _migrate(args: argparse.Namespace, url: str) -> int:
    print(f"store schema is current ({url.split('@')[-1]})")
    return 0


def _default_store() -> str:
    from .integration.hook import store_url

    return store_url()


def _add_delivery(engine, run: dict[str, Any]) -> None:
    """A template run's delivery, as WeChat's reports tell it (other kinds get no reports)."""
    if run.get("kind") == "template":
        run["delivery"] = delivery(ledger.delivery_counts(engine, run["run_key"]))


def _history(args: argparse.Namespace, url: str) -> int:
    engine = engine_for(url)
    if args.run:
        return _show_run(args, engine)
    runs = history.list_runs(engine, limit=args.limit, filters={"kind": args.kind, "status": args.status})
    _add_display_status(runs)
    for run in runs:
        _add_delivery(engine, run)
    if args.json:
        print(json.dumps(runs, ensure_ascii=False, indent=2, default=str))
        return 0
    if not runs:
        print("No campaign runs yet.")
        return 0
    print(tabulate([_run_line(run) for run in runs], headers="keys", tablefmt="simple"))
    return 0


def _run_line(run: dict[str, Any]) -> dict[str, Any]:
    counts = run.get("counts") or {}
    by_status = counts.get("status", {})
    report = run.get("wechat_report") or {}
    sent = f"{by_status['planned']} planned" if by_status.get("planned") else by_status.get("sent", "")
    return {
        "when (Beijing)": _when(run.get("created_at")),
        "run": run.get("dag_run_id") or run["run_key"],
        "kind": run.get("kind"),
        "content": run.get("content"),
        "audience": run.get("audience"),
        "status": _status_word(run),
        "fans": counts.get("audience", ""),
        "eligible": counts.get("eligible", ""),
        "sent": sent,
        "failed": by_status.get("failed", ""),
        "unknown": by_status.get("unknown", ""),
        "why not": _reasons(counts.get("reasons", {})),
        "WeChat sent/filtered": f"{report['sent']}/{report['filter']}" if report.get("jobs_reported") else "",
        "delivered": _delivered(run.get("delivery")),
    }


def _add_display_status(runs: list[dict[str, Any]]) -> None:
    """The status as the Sent page shows it: a scheduled run cancelled in Airflow is ``cancelled``."""
    states = airflow_states(runs)
    for run in runs:
        run["display_status"] = display_status(run, state_of(run, states))


def _status_word(run: dict[str, Any]) -> str:
    status = run.get("display_status") or run.get("status") or ""
    return "planned (dry run)" if status == "dry_run" else status


def _delivered(summary: dict[str, Any] | None) -> str:
    """A template run's delivered count and why the others were not, e.g. ``9850; not: user_block 150``."""
    if not summary:
        return ""
    missed = ", ".join(f"{reason} {n}" for reason, n in sorted(summary["not_delivered"].items()))
    return f"{summary['delivered']}; not: {missed}" if missed else str(summary["delivered"])


def _reasons(reasons: dict[str, int]) -> str:
    """``excluded:monthly_cap`` → left out; ``failed:blocked`` → refused by WeChat."""
    parts = []
    for label, status in (("left out", "excluded"), ("refused", "failed"), ("unknown", "unknown")):
        items = [f"{key.split(':', 1)[1]} {n}" for key, n in sorted(reasons.items()) if key.startswith(status + ":")]
        if items:
            parts.append(f"{label}: {', '.join(items)}")
    return "; ".join(parts)


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%m-%d %H:%M:%S") if epoch else ""


def _show_run(args: argparse.Namespace, engine) -> int:
    run = history.get_run(engine, args.run) or _by_suffix(engine, args.run)
    if run is None:
        print(f"no run {args.run!r}", file=sys.stderr)
        return 1
    rows = ledger.recipients_page(engine, run["run_key"], limit=args.limit, status=args.recipient_status)
    recipients = [recipient(row) for row in rows]
    _add_display_status([run])
    _add_delivery(engine, run)
    if args.json:
        print(json.dumps({"run": run, "recipients": recipients}, ensure_ascii=False, indent=2, default=str))
        return 0
    print(tabulate([_run_line(run)], headers="keys", tablefmt="simple"))
    if run.get("error"):
        print(f"\nerror: {run['error']}")
    print()
    print(tabulate(recipients, headers="keys", tablefmt="simple") if recipients else "No recipients.")
    return 0


def _by_suffix(engine, suffix: str) -> dict[str, Any] | None:
    matches = [run for run in history.list_runs(engine, limit=1000) if run["run_key"].endswith(suffix)]
    return matches[0] if len(matches) == 1 else None


def _prune_callbacks(args: argparse.Namespace, url: str) -> int:
    from .integration.maintenance import prune_callback_events

    try:
        done = prune_callback_events(args.older_than_days, url)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{done['deleted']} callback events older than {args.older_than_days} days deleted")
    return 0


def _serve_callbacks(args: argparse.Namespace, url: str) -> int:
    from .integration.receiver import PATH, serve

    print(f"WeChat callbacks at http://{args.host}:{args.port}{PATH}/<conn_id> ({args.workers} workers)", flush=True)
    serve(args.host, args.port, args.workers)
    return 0


def _import(args: argparse.Namespace, url: str) -> int:
    from . import imports
    from .integration.hook import WeChatHook

    appid = WeChatHook(args.conn).connection.login
    load = {
        "receipts": imports.import_receipts,
        "interactions": imports.import_interactions,
        "fans": imports.import_fans,
    }[args.what]
    try:
        result = load(engine_for(url), appid, args.file)
    except imports.BadImportFile as exc:
        print(f"nothing imported: {exc}", file=sys.stderr)
        return 2
    print(f"{args.what}: {result.rows} rows read, {result.added} new, for {appid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
