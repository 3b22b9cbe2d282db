"""What a push from WeChat changes in the store.

- Messages and the events that open a customer-service window become interactions (with their time).
- ``subscribe`` / ``unsubscribe`` follow or unfollow the fan.
- ``MASSSENDJOBFINISH`` gives the run's WeChat-side counts, and a job WeChat says failed makes its fans failed
  and the run failed or partial; ``TEMPLATESENDJOBFINISH`` the recipient's delivery.
  A report that comes before its send's msg_id is written is kept and applied by the send (store.reports).
- Everything is kept in ``callback_events`` once, in the push's own transaction: WeChat's retries (same MsgId,
  or same sender and CreateTime for events) hit the table's unique key and change nothing the second time.
  Unknown events are stored, not dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .domain.eligibility import INTERACTION_WINDOWS
from .store import reports
from .store.db import is_psycopg2, transaction
from .store.fans import add_interactions, mark_fans
from .wechat.callbacks import Push

# Event names (lower-cased) -> our interaction kinds; VIEW and LOCATION open no window but are kept.
_EVENT_KINDS = {
    "click": "click",
    "scancode_push": "scancode_push",
    "scancode_waitmsg": "scancode_waitmsg",
    "scan": "scan",
    "view": "view",
    "location": "location_event",
}
REPLAYED = "replayed"  # a signed URL's nonce used again with another body: refused, nothing kept
_REPORTS = {reports.TEMPLATE_REPORT.lower(): reports.TEMPLATE_REPORT, reports.MASS_REPORT.lower(): reports.MASS_REPORT}


def record_push(bind: Engine | sa.Connection, appid: str, push: Push) -> str:
    """Apply one push and keep it; returns what it did ("duplicate" for a retry WeChat already delivered)."""
    return record_pushes(bind, [(appid, push)])[0]


def record_pushes(bind: Engine | sa.Connection, pushes: Sequence[tuple[str, Push]]) -> list[str]:
    """Keep and apply pushes in one transaction, in a few statements however many there are (what lets a
    receiver keep up with a campaign's reports); returns what each did.

    On SQLite the insert comes first: it says which pushes are new, and it takes the write lock before
    anything is read, so a send writing its msg_ids cannot slip between this batch's look for them and its
    commit. Job-finish reports are applied next (applying one twice changes nothing); a report whose send is
    not written yet is kept as unmatched. On PostgreSQL the insert, the deliveries and the interactions are one
    statement after the account's lock (``reports.keep_and_apply``): one round trip a batch. Only new pushes
    change a fan, in the order they came, so that a retried follow cannot undo a later unfollow."""
    rows = [_event_row(appid, push) for appid, push in pushes]
    with transaction(bind) as connection:
        in_one = is_psycopg2(connection)
        if in_one:  # one round trip: the accounts' locks, then the insert, the deliveries and the interactions
            windows = [window for row, (_, push) in zip(rows, pushes, strict=True) if (window := _window(row, push))]
            stored = reports.keep_and_apply(connection, rows, windows)
            for row in rows:
                row["outcome"] = stored.get(_key(row), row["outcome"])
            new = set(stored)
        else:
            for appid in sorted({row["appid"] for row in rows if row["msg_id"]}):
                reports.hold_account(connection, appid)
            new = reports.add_events(connection, rows)
        provisional = {_key(row): row["outcome"] for row in rows}  # as the insert stored them
        if not in_one:
            _apply_templates(connection, rows)
        _apply_mass_reports(connection, rows)
        reports.set_outcomes(
            connection, [row for row in rows if _key(row) in new and row["outcome"] != provisional[_key(row)]]
        )
        kept_before = reports.kept(connection, [(r["appid"], r["dedupe_key"]) for r in rows if _key(r) not in new])
        outcomes: list[str] = []
        interactions: dict[str, list[dict[str, Any]]] = {}
        seen: set[tuple[str, str]] = set()
        for row, (appid, push) in zip(rows, pushes, strict=True):
            key = _key(row)
            if key not in new:
                # Refused by the unique keys: a retry of a push kept before, or its signature on another body.
                retry = key in seen or key in kept_before or row["nonce"] is None
                outcomes.append("duplicate" if retry else REPLAYED)
                continue
            new.discard(key)  # the same push twice in one batch: the second is a retry
            seen.add(key)
            _change_fan(connection, appid, push)
            if not in_one and (window := _window(row, push)):
                interactions.setdefault(appid, []).append(window)
            outcomes.append(row["outcome"])
        for appid, items in interactions.items():
            add_interactions(connection, appid, [{k: v for k, v in w.items() if k != "event_key"} for w in items])
    return outcomes


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return row["appid"], row["dedupe_key"]


def _event_row(appid: str, push: Push) -> dict[str, Any]:
    report = _REPORTS.get(push.event.lower()) if push.msg_type == "event" else None
    return {
        "appid": appid,
        "dedupe_key": push.dedupe_key[:160],
        "msg_type": push.msg_type[:32],
        "event": (report or push.event)[:64] or None,
        "openid": push.openid[:64] or None,
        "created_at": push.created_at,
        "received_at": time.time(),
        "outcome": _outcome(push, report),
        "payload": push.fields,
        "msg_id": push.msg_id[:64] if report else None,
        "report_status": push.get("Status")[:32] if report else None,
        "signed_at": push.signed_at,
        "nonce": push.nonce,
    }


def _outcome(push: Push, report: str | None) -> str:
    """What the push changes, e.g. ``interaction:text``; a report's says later whether it found its send."""
    if report == reports.TEMPLATE_REPORT:
        return f"delivery:{push.get('Status')}"[:64]
    if report == reports.MASS_REPORT:
        return "mass_report"
    if push.msg_type == "event" and push.event.lower() == "unsubscribe":
        return "unsubscribed"
    kind = _interaction_kind(push)
    if kind is None:
        return "stored"
    return f"interaction:{kind}" if kind in INTERACTION_WINDOWS else f"stored:{kind}"[:64]


def _interaction_kind(push: Push) -> str | None:
    if push.msg_type != "event":
        return push.msg_type
    name = push.event.lower()
    if name == "subscribe":
        return "subscribe_qr" if push.get("EventKey").startswith("qrscene_") else "subscribe"
    return _EVENT_KINDS.get(name)


def _apply_templates(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Deliveries (one statement for the batch on PostgreSQL); a report whose send is not written yet is kept
    as unmatched, and the send applies it when it writes its msg_ids (store.reports.catch_up_*)."""
    templates = [row for row in rows if row["event"] == reports.TEMPLATE_REPORT]
    found = reports.deliver(connection, [(row["openid"], row["msg_id"], row["report_status"]) for row in templates])
    for row in templates:
        if (row["openid"], row["msg_id"]) not in found:
            row["outcome"] = f"delivery:{reports.UNMATCHED}"


def _apply_mass_reports(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Mass figures, and what a failed job means for its fans and its run (store.reports.apply_mass_report); a
    report whose job's msg_id is not written yet is kept as unmatched."""
    for row in rows:
        if row["event"] == reports.MASS_REPORT:
            figures = reports.mass_figures(row["payload"])
            if reports.apply_mass_report(connection, row["appid"], row["msg_id"], figures) is None:
                row["outcome"] = f"mass_report:{reports.UNMATCHED}"


def _change_fan(connection: sa.Connection, appid: str, push: Push) -> None:
    """What a new push changes of its fan: following, refusing templates."""
    name = push.event.lower() if push.msg_type == "event" else ""
    if name in ("subscribe", "unsubscribe"):
        mark_fans(connection, appid, [push.openid], subscribed=name == "subscribe")
    if name == "templatesendjobfinish" and push.get("Status") == "failed:user block":
        mark_fans(connection, appid, [push.openid], blocks_templates=True)  # later campaigns leave them out


def _window(row: dict[str, Any], push: Push) -> dict[str, Any] | None:
    """The customer-service window a push opens, as an interaction row (``event_key``: the push's key)."""
    kind = _interaction_kind(push)
    if kind not in INTERACTION_WINDOWS:
        return None
    return {
        "appid": row["appid"],
        "event_key": row["dedupe_key"],
        "openid": push.openid,
        "kind": kind,
        "at": float(push.created_at),
        "source": "callback",
        "dedupe_key": f"cb:{row['appid']}:{push.dedupe_key}"[:128],
    }
