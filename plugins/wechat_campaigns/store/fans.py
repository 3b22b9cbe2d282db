"""What the store knows of fans: profile and flags, tags, interactions, mass receipts.

Everything here was learnt the way WeChat lets an account learn it: API answers (user/info, a 43004 or
43101 reply), callbacks, syncs, and a data engineer's imports.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..domain.clock import SHANGHAI, shanghai_month
from ..domain.eligibility import INTERACTION_WINDOWS, LONGEST_WINDOW, FanFacts, Window
from ..domain.spec import MessageKind
from .db import dialect_insert, insert_ignoring_duplicates, transaction, upsert
from .ledger import SENDING, SENT, UNKNOWN
from .schema import fan_tags, fans, interactions, mass_receipts, recipients, runs, tags

IN_CHUNK = 5_000  # openids per IN (...) list: well under SQLite's bound-parameter limit (32,766)


def upsert_fans(bind: Engine | sa.Connection, appid: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or update fans; each row gives ``openid`` and the columns it knows (same columns in every row)."""
    if not rows:
        return
    now = time.time()
    with transaction(bind) as connection:
        upsert(connection, fans, [{**row, "appid": appid, "updated_at": now} for row in rows])


def mark_fans(bind: Engine | sa.Connection, appid: str, openids: Iterable[str], **flags: Any) -> None:
    """Record what an API answer or a push taught us, e.g. ``subscribed=False`` after 43004."""
    upsert_fans(bind, appid, [{"openid": openid, **flags} for openid in set(openids)])


def refollowed(engine: Engine, appid: str, openids: Sequence[str]) -> None:
    """WeChat listed these fans as followers now: any we thought had left have come back. (Only those rows
    change: a campaign's audience may be a million fans, and the sync DAG keeps the rest up to date.)"""
    with engine.begin() as connection:
        for start in range(0, len(openids), IN_CHUNK):
            connection.execute(
                sa.update(fans)
                .where(
                    fans.c.appid == appid,
                    fans.c.subscribed.is_(False),
                    fans.c.openid.in_(list(openids[start : start + IN_CHUNK])),
                )
                .values(subscribed=True, updated_at=time.time())
            )


def replace_tags(engine: Engine, appid: str, known: Mapping[str, int]) -> None:
    """The account's tags as WeChat lists them (name -> id)."""
    now = time.time()
    with engine.begin() as connection:
        connection.execute(sa.delete(tags).where(tags.c.appid == appid, tags.c.tag_id.not_in(list(known.values()))))
        upsert(
            connection,
            tags,
            [{"appid": appid, "tag_id": tag_id, "name": name, "synced_at": now} for name, tag_id in known.items()],
        )


def tag_ids(engine: Engine, appid: str) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(tags.c.name, tags.c.tag_id).where(tags.c.appid == appid)).all())


def add_interactions(bind: Engine | sa.Connection, appid: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Interactions (``openid``, ``kind``, ``at`` epoch, ``source``, optional ``dedupe_key``); returns how many
    were new. A row whose dedupe_key was seen before (a WeChat retry, a re-imported file) is skipped."""
    rows = [{"appid": appid, "dedupe_key": None, **row} for row in rows]
    with transaction(bind) as connection:
        return insert_ignoring_duplicates(connection, interactions, rows)


def add_receipts(engine: Engine, appid: str, rows: Iterable[Mapping[str, Any]], connection=None) -> None:
    """Mass messages fans received (``openid``, ``receipt_key``, ``received_at`` epoch, ``source``)."""
    rows = [
        {
            "appid": appid,
            "month": shanghai_month(datetime.fromtimestamp(row["received_at"], SHANGHAI)),
            **row,
        }
        for row in rows
    ]
    if connection is not None:
        insert_ignoring_duplicates(connection, mass_receipts, rows)
        return
    with engine.begin() as conn:
        insert_ignoring_duplicates(conn, mass_receipts, rows)


def add_run_receipts(connection: sa.Connection, appid: str, run_key: str, msg_id: str, receipt_key: str) -> None:
    """A receipt for every fan of the run that the mass job ``msg_id`` reached, written by the database from
    the ledger (INSERT ... SELECT) rather than row by row through Python."""
    received_at = time.time()
    reached = sa.select(
        sa.literal(appid),
        recipients.c.openid,
        sa.literal(receipt_key),
        sa.literal(shanghai_month(datetime.fromtimestamp(received_at, SHANGHAI))),
        sa.literal(received_at),
        sa.literal("campaign"),
    ).where(recipients.c.run_key == run_key, recipients.c.status == SENT, recipients.c.msg_id == msg_id)
    columns = ["appid", "openid", "receipt_key", "month", "received_at", "source"]
    insert = dialect_insert(connection)(mass_receipts).from_select(columns, reached)
    connection.execute(insert.on_conflict_do_nothing())


def fan_facts(
    engine: Engine, appid: str, openids: Sequence[str], kind: MessageKind, now: datetime
) -> dict[str, FanFacts]:
    """What the eligibility rules need of each fan, read in a few grouped queries per chunk."""
    facts: dict[str, FanFacts] = {}
    with engine.connect() as connection:
        for start in range(0, len(openids), IN_CHUNK):
            chunk = list(openids[start : start + IN_CHUNK])
            profile = _profiles(connection, appid, chunk)
            monthly = _mass_this_month(connection, appid, chunk, now) if kind is MessageKind.MASS else {}
            windows = _windows(connection, appid, chunk, now) if kind is MessageKind.CUSTOMER_SERVICE else {}
            for openid in chunk:
                row = profile.get(openid)
                facts[openid] = FanFacts(
                    openid=openid,
                    subscribed=row.subscribed if row else None,
                    blocks_templates=bool(row and row.blocks_templates),
                    blacklisted=bool(row and row.blacklisted),
                    refuses_messages=bool(row and row.refuses_messages),
                    mass_this_month=monthly.get(openid, 0),
                    windows=windows.get(openid, {}),
                )
    return facts


def _profiles(connection: sa.Connection, appid: str, openids: list[str]) -> dict[str, sa.Row]:
    rows = connection.execute(
        sa.select(
            fans.c.openid, fans.c.subscribed, fans.c.blocks_templates, fans.c.blacklisted, fans.c.refuses_messages
        ).where(fans.c.appid == appid, fans.c.openid.in_(openids))
    ).all()
    return {row.openid: row for row in rows}


def _mass_this_month(connection: sa.Connection, appid: str, openids: list[str], now: datetime) -> dict[str, int]:
    rows = connection.execute(
        sa.select(mass_receipts.c.openid, sa.func.count())
        .where(
            mass_receipts.c.appid == appid,
            mass_receipts.c.month == shanghai_month(now),
            mass_receipts.c.openid.in_(openids),
        )
        .group_by(mass_receipts.c.openid)
    ).all()
    return dict(rows)


def _windows(connection: sa.Connection, appid: str, openids: list[str], now: datetime) -> dict[str, dict]:
    """Each fan's latest window per class, with the customer-service messages we sent inside it."""
    since = (now - LONGEST_WINDOW).timestamp()
    opened: dict[str, dict] = defaultdict(dict)
    rows = connection.execute(
        sa.select(interactions.c.openid, interactions.c.kind, interactions.c.at).where(
            interactions.c.appid == appid, interactions.c.openid.in_(openids), interactions.c.at >= since
        )
    ).all()
    for openid, kind, at in rows:
        cls = INTERACTION_WINDOWS.get(kind)
        if cls is not None and at > opened[openid].get(cls, 0.0):
            opened[openid][cls] = at
    sends = connection.execute(
        sa.select(recipients.c.openid, recipients.c.updated_at)
        .join(runs, runs.c.run_key == recipients.c.run_key)
        .where(
            runs.c.appid == appid,
            runs.c.kind == MessageKind.CUSTOMER_SERVICE.value,
            recipients.c.openid.in_(list(opened)),
            recipients.c.status.in_([SENT, SENDING, UNKNOWN]),  # sending/unknown may have used the allowance
            recipients.c.updated_at >= since,
        )
    ).all()
    sent_at: dict[str, list[float]] = defaultdict(list)
    for openid, at in sends:
        sent_at[openid].append(at)
    return {
        openid: {
            cls: Window(
                opened_at=datetime.fromtimestamp(at, now.tzinfo),
                sent=sum(1 for t in sent_at.get(openid, ()) if t >= at),
            )
            for cls, at in classes.items()
        }
        for openid, classes in opened.items()
    }


def profiles_for_render(
    engine: Engine, appid: str, openids: Sequence[str], with_tags: bool = True
) -> dict[str, dict[str, Any]]:
    """The attributes a marketer's Jinja2 may use: openid, language, remark, tags, and imported attributes."""
    result: dict[str, dict[str, Any]] = {openid: {"openid": openid} for openid in openids}
    with engine.connect() as connection:
        for start in range(0, len(openids), IN_CHUNK):
            chunk = list(openids[start : start + IN_CHUNK])
            rows = connection.execute(
                sa.select(fans.c.openid, fans.c.language, fans.c.remark, fans.c.attributes).where(
                    fans.c.appid == appid, fans.c.openid.in_(chunk)
                )
            ).all()
            for row in rows:
                context = result[row.openid]
                context.update({"language": row.language, "remark": row.remark})
                context.update(row.attributes or {})
            if not with_tags:
                continue
            names = connection.execute(
                sa.select(fan_tags.c.openid, tags.c.name)
                .join(tags, (tags.c.appid == fan_tags.c.appid) & (tags.c.tag_id == fan_tags.c.tag_id))
                .where(fan_tags.c.appid == appid, fan_tags.c.openid.in_(chunk))
            ).all()
            for openid, name in names:
                result[openid].setdefault("tags", []).append(name)
    return result


def sample_openids(engine: Engine, appid: str, tag: str | None, limit: int) -> list[str]:
    """Up to ``limit`` followers the store knows (of ``tag`` when given): the fans ``validate`` renders a
    personalised message for before anything is sent."""
    query = sa.select(fans.c.openid).where(fans.c.appid == appid, fans.c.subscribed.is_not(sa.false()))
    if tag:
        members = (
            sa.select(fan_tags.c.openid)
            .join(tags, (tags.c.appid == fan_tags.c.appid) & (tags.c.tag_id == fan_tags.c.tag_id))
            .where(fan_tags.c.appid == appid, tags.c.name == tag)
        )
        query = query.where(fans.c.openid.in_(members))
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(fans.c.openid).limit(limit)).scalars())


def tags_page(engine: Engine, appid: str, *, offset: int = 0, limit: int = 50, search: str | None = None) -> list[dict]:
    """The account's tags, biggest first (``tag_id``, ``name``, ``fan_count``, ``synced_at``): a page of them,
    so that an account with WeChat's 100 tags (or a test's thousands) stays one quick query."""
    query = sa.select(tags.c.tag_id, tags.c.name, tags.c.fan_count, tags.c.synced_at).where(tags.c.appid == appid)
    if search:
        query = query.where(tags.c.name.contains(search, autoescape=True))
    query = query.order_by(sa.func.coalesce(tags.c.fan_count, -1).desc(), tags.c.name).offset(offset).limit(limit)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
