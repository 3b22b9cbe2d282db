"""What a push from WeChat changes in the store.

- Messages and the events that open a customer-service window become interactions (with their time).
- ``subscribe`` / ``unsubscribe`` follow or unfollow the fan.
- ``MASSSENDJOBFINISH`` gives the run's WeChat-side counts; ``TEMPLATESENDJOBFINISH`` the recipient's delivery.
- Everything is kept in ``callback_events`` once: WeChat's retries (same MsgId, or same sender and
  CreateTime for events) change nothing the second time. Unknown events are stored, not dropped.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .domain.eligibility import INTERACTION_WINDOWS
from .store import history
from .store.db import insert_ignoring_duplicates
from .store.fans import add_interactions, mark_fans
from .store.schema import callback_events, recipients
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
_TEMPLATE_DELIVERY = {"failed:user block": "blocked", "failed: system failed": "system_failed"}


def record_push(engine: Engine, appid: str, push: Push) -> str:
    """Apply one push; returns what it did ("duplicate" for a retry WeChat already delivered)."""
    event = {
        "appid": appid,
        "dedupe_key": push.dedupe_key[:160],
        "msg_type": push.msg_type,
        "event": push.event or None,
        "openid": push.openid or None,
        "created_at": push.created_at,
        "received_at": time.time(),
        "payload": push.fields,
    }
    with engine.begin() as connection:
        before = _count(connection, appid)
        insert_ignoring_duplicates(connection, callback_events, [event])
        if _count(connection, appid) == before:
            return "duplicate"
    outcome = _apply(engine, appid, push)
    with engine.begin() as connection:
        connection.execute(
            sa.update(callback_events)
            .where(callback_events.c.appid == appid, callback_events.c.dedupe_key == event["dedupe_key"])
            .values(outcome=outcome)
        )
    return outcome


def _count(connection: sa.Connection, appid: str) -> int:
    return connection.scalar(
        sa.select(sa.func.count()).select_from(callback_events).where(callback_events.c.appid == appid)
    )


def _apply(engine: Engine, appid: str, push: Push) -> str:
    if push.msg_type != "event":
        return _interaction(engine, appid, push, push.msg_type)
    name = push.event.lower()
    if name == "subscribe":
        mark_fans(engine, appid, [push.openid], subscribed=True)
        kind = "subscribe_qr" if push.get("EventKey").startswith("qrscene_") else "subscribe"
        return _interaction(engine, appid, push, kind)
    if name == "unsubscribe":
        mark_fans(engine, appid, [push.openid], subscribed=False)
        return "unsubscribed"
    if name == "masssendjobfinish":
        return _mass_report(engine, push)
    if name == "templatesendjobfinish":
        return _template_delivery(engine, appid, push)
    if name in _EVENT_KINDS:
        return _interaction(engine, appid, push, _EVENT_KINDS[name])
    return "stored"


def _interaction(engine: Engine, appid: str, push: Push, kind: str) -> str:
    if kind not in INTERACTION_WINDOWS:
        return f"stored:{kind}"  # e.g. a VIEW click or a location report: no window
    row = {"openid": push.openid, "kind": kind, "at": float(push.created_at), "source": "callback"}
    add_interactions(engine, appid, [{**row, "dedupe_key": f"cb:{appid}:{push.dedupe_key}"[:128]}])
    return f"interaction:{kind}"


def _mass_report(engine: Engine, push: Push) -> str:
    report: dict[str, Any] = {
        "status": push.get("Status"),
        "total": _int(push.get("TotalCount")),
        "filter": _int(push.get("FilterCount")),
        "sent": _int(push.get("SentCount")),
        "error": _int(push.get("ErrorCount")),
    }
    run_key = history.record_mass_report(engine, push.get("MsgID") or push.get("MsgId"), report)
    return "mass_report" if run_key else "mass_report:not_ours"


def _template_delivery(engine: Engine, appid: str, push: Push) -> str:
    status = push.get("Status")
    msg_id = push.get("MsgID") or push.get("MsgId")
    with engine.begin() as connection:
        changed = connection.execute(
            sa.update(recipients)
            .where(recipients.c.msg_id == msg_id, recipients.c.openid == push.openid)
            .values(delivery=status[:32])
        ).rowcount
    if status == "failed:user block":
        mark_fans(engine, appid, [push.openid], blocks_templates=True)
    return f"delivery:{_TEMPLATE_DELIVERY.get(status, status)}" if changed else "delivery:not_ours"


def _int(value: str) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None
