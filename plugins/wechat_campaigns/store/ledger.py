"""The recipient ledger: one row per fan of a run, moving pending → sending → sent | failed | unknown, or
excluded with a reason. A move to ``sending`` is committed before the call, so a retried task knows which
fans may already have the message.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .db import insert_ignoring_duplicates, is_psycopg2
from .schema import recipients as r

PENDING, SENDING, SENT, FAILED, UNKNOWN, EXCLUDED, PLANNED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "unknown",
    "excluded",
    "planned",  # a dry run's "would be sent"
)
CHUNK = 5_000


@dataclass(frozen=True)
class Outcome:
    openid: str
    status: str
    reason: str | None = None
    errcode: int | None = None
    msg_id: str | None = None


def add_recipients(engine: Engine, run_key: str, openids: Iterable[str], start: int = 0, batch_size: int = 500) -> int:
    """Stream openids into the ledger (a repeated openid is kept once), numbering batches of ``batch_size``
    by ledger position as they come, so that planning need not rewrite a million rows; returns how many
    openids were given."""
    seen = 0
    with engine.begin() as connection:
        for chunk in _chunks(openids, CHUNK):
            rows = [
                {
                    "run_key": run_key,
                    "openid": openid,
                    "position": start + seen + i,
                    "status": PENDING,
                    "batch_no": (start + seen + i) // batch_size,
                }
                for i, openid in enumerate(chunk)
            ]
            insert_ignoring_duplicates(connection, r, rows)
            seen += len(chunk)
    return seen


def count(engine: Engine, run_key: str) -> int:
    """Recipients in the run's ledger (each fan once)."""
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(r).where(r.c.run_key == run_key)).scalar_one()


def iter_openids(engine: Engine, run_key: str, status: str = PENDING, chunk: int = CHUNK) -> Iterator[list[str]]:
    """Openids of a run in ledger order, a chunk at a time (keyset paging: no OFFSET scans)."""
    for rows in iter_chunks(engine, run_key, status, chunk):
        yield [row.openid for row in rows]


def iter_chunks(
    engine: Engine, run_key: str, status: str, chunk: int = CHUNK, owner: tuple[int, int] | None = None
) -> Iterator[Sequence[sa.Row]]:
    """(position, openid) rows in ledger order; ``owner`` = (slice index, slice count) keeps that slice's."""
    last = -1
    while True:
        query = sa.select(r.c.position, r.c.openid).where(
            r.c.run_key == run_key, r.c.status == status, r.c.position > last
        )
        if owner is not None:
            query = query.where(r.c.batch_no % owner[1] == owner[0])
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(r.c.position).limit(chunk)).all()
        if not rows:
            return
        last = rows[-1].position
        yield rows


def move_range(engine: Engine, run_key: str, first: int, last: int, owner: tuple[int, int], old: str, new: str) -> int:
    """Move a slice's rows in [first, last] of ledger order from ``old`` to ``new`` status in one statement."""
    with engine.begin() as connection:
        return connection.execute(
            sa.update(r)
            .where(
                r.c.run_key == run_key,
                r.c.position.between(first, last),
                r.c.batch_no % owner[1] == owner[0],
                r.c.status == old,
            )
            .values(status=new, updated_at=time.time())
        ).rowcount


def count_in(engine: Engine, run_key: str, statuses: Sequence[str]) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(r).where(r.c.run_key == run_key, r.c.status.in_(statuses))
        ).scalar_one()


def move_all(connection: sa.Connection, run_key: str, old: Sequence[str], outcome: Outcome) -> int:
    """Every fan of the run in an ``old`` status gets ``outcome`` (its openid is not used) in one statement:
    a sendall job covers the whole run, and a million single-row updates would take the worker minutes."""
    return connection.execute(
        sa.update(r)
        .where(r.c.run_key == run_key, r.c.status.in_(old))
        .values(
            status=outcome.status,
            reason=outcome.reason,
            errcode=outcome.errcode,
            msg_id=outcome.msg_id,
            updated_at=time.time(),
        )
    ).rowcount


def fail_mass_job(connection: sa.Connection, run_key: str, msg_id: str, reason: str) -> int:
    """The fans of a mass job WeChat reported reaching nobody: ``sent`` becomes ``failed`` with ``reason`` (the
    msg_id stays); returns how many moved (none when the report is applied again)."""
    return connection.execute(
        sa.update(r)
        .where(r.c.run_key == run_key, r.c.msg_id == msg_id, r.c.status == SENT)
        .values(status=FAILED, reason=reason, updated_at=time.time())
    ).rowcount


def record(engine: Engine, run_key: str, outcomes: Sequence[Outcome], connection: sa.Connection | None = None) -> None:
    """Write outcomes in bulk (one statement per chunk)."""
    if not outcomes:
        return
    now = time.time()
    if connection is None:
        with engine.begin() as conn:
            _record(conn, run_key, outcomes, now)
    else:
        _record(connection, run_key, outcomes, now)


def _record(connection: sa.Connection, run_key: str, outcomes: Sequence[Outcome], now: float) -> None:
    if is_psycopg2(connection):
        _record_postgres(connection, run_key, outcomes, now)
    elif connection.dialect.name == "sqlite":
        # A plain executemany: SQLAlchemy's per-row parameter processing costs more than SQLite's own update.
        rows = [(o.status, o.reason, o.errcode, o.msg_id, now, run_key, o.openid) for o in outcomes]
        connection.exec_driver_sql(
            "UPDATE recipients SET status = ?, reason = ?, errcode = ?, msg_id = ?, updated_at = ? "
            "WHERE run_key = ? AND openid = ?",
            rows,
        )
    else:
        statement = (
            sa.update(r)
            .where(r.c.run_key == sa.bindparam("k"), r.c.openid == sa.bindparam("o"))
            .values(
                status=sa.bindparam("s"),
                reason=sa.bindparam("why"),
                errcode=sa.bindparam("code"),
                msg_id=sa.bindparam("mid"),
                updated_at=now,
            )
        )
        params = [
            {"k": run_key, "o": o.openid, "s": o.status, "why": o.reason, "code": o.errcode, "mid": o.msg_id}
            for o in outcomes
        ]
        connection.execute(statement, params)


def _record_postgres(connection: sa.Connection, run_key: str, outcomes: Sequence[Outcome], now: float) -> None:
    """One UPDATE ... FROM (VALUES ...) per thousand outcomes (psycopg2 would run one UPDATE per row)."""
    from psycopg2.extras import execute_values

    cursor = connection.connection.cursor()
    head = cursor.mogrify(
        "UPDATE recipients AS r SET status = v.status, reason = v.reason, errcode = v.errcode, "
        "msg_id = v.msg_id, updated_at = %s FROM (VALUES ",
        (now,),
    ).decode()
    tail = cursor.mogrify(
        ") AS v(openid, status, reason, errcode, msg_id) WHERE r.run_key = %s AND r.openid = v.openid", (run_key,)
    ).decode()
    rows = [(o.openid, o.status, o.reason, o.errcode, o.msg_id) for o in outcomes]
    execute_values(cursor, head + "%s" + tail, rows, template="(%s, %s, %s, %s::integer, %s)", page_size=1000)


def set_status(engine: Engine, run_key: str, openids: Sequence[str], status: str) -> None:
    with engine.begin() as connection:
        for chunk in _chunks(openids, 900):  # keeps IN lists under SQLite's parameter limit
            connection.execute(
                sa.update(r)
                .where(r.c.run_key == run_key, r.c.openid.in_(chunk))
                .values(status=status, updated_at=time.time())
            )


def assign_batches(engine: Engine, run_key: str, batches: int) -> int:
    """Number the pending fans' batches 0..batches-1, spread evenly in ledger order; returns the fan count."""
    with engine.begin() as connection:
        eligible = connection.scalar(
            sa.select(sa.func.count()).select_from(r).where(r.c.run_key == run_key, r.c.status == PENDING)
        )
        if not eligible:
            return 0
        ranked = (
            sa.select(r.c.openid, (sa.func.row_number().over(order_by=r.c.position) - 1).label("rank"))
            .where(r.c.run_key == run_key, r.c.status == PENDING)
            .subquery()
        )
        connection.execute(
            sa.update(r)
            .where(r.c.run_key == run_key, r.c.openid == ranked.c.openid)
            .values(batch_no=ranked.c.rank * batches // eligible)
        )
    return eligible


def batch_sizes(engine: Engine, run_key: str, status: str = PENDING) -> dict[int, int]:
    """Fans in ``status`` per batch number."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(r.c.batch_no, sa.func.count())
            .where(r.c.run_key == run_key, r.c.status == status)
            .group_by(r.c.batch_no)
        ).all()
    return dict(rows)


def batch_rows(engine: Engine, run_key: str, batch_no: int, statuses: Sequence[str]) -> list[sa.Row]:
    """The batch's fans in these statuses, in ledger order. Sorted here: with ORDER BY position in the query,
    SQLite walks the whole run's position index for every batch (quadratic in the run's size)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(r.c.openid, r.c.status, r.c.updated_at, r.c.position).where(
                r.c.run_key == run_key, r.c.batch_no == batch_no, r.c.status.in_(statuses)
            )
        ).all()
    return sorted(rows, key=lambda row: row.position)


def batch_numbers(engine: Engine, run_key: str) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.scalars(
                sa.select(r.c.batch_no).where(r.c.run_key == run_key, r.c.batch_no.is_not(None)).distinct()
            )
        )


def counts(engine: Engine, run_key: str) -> tuple[Counter, Counter]:
    """Recipients by status, and the excluded/failed ones by reason."""
    by_status: Counter = Counter()
    by_reason: Counter = Counter()
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(r.c.status, r.c.reason, sa.func.count())
            .where(r.c.run_key == run_key)
            .group_by(r.c.status, r.c.reason)
        ).all()
    for status, reason, n in rows:
        by_status[status] += n
        if reason:
            by_reason[f"{status}:{reason}"] += n
    return by_status, by_reason


def recipients_page(
    engine: Engine,
    run_key: str,
    *,
    offset: int = 0,
    limit: int = 100,
    openid: str | None = None,
    status: str | None = None,
) -> Sequence[sa.Row]:
    query = sa.select(r).where(r.c.run_key == run_key)
    if openid:  # the start of an openid
        query = query.where(r.c.openid.startswith(openid, autoescape=True))
    if status:
        query = query.where(r.c.status == status)
    with engine.connect() as connection:
        return connection.execute(query.order_by(r.c.position).offset(offset).limit(limit)).all()


def iter_rows(engine: Engine, run_key: str, chunk: int = CHUNK) -> Iterator[sa.Row]:
    """Every recipient of a run in ledger order (for exports), read a chunk at a time."""
    last = -1
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(r).where(r.c.run_key == run_key, r.c.position > last).order_by(r.c.position).limit(chunk)
            ).all()
        if not rows:
            return
        last = rows[-1].position
        yield from rows


def delivery_counts(engine: Engine, run_key: str) -> dict[str, int]:
    """What WeChat's TEMPLATESENDJOBFINISH callbacks said, by status."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(r.c.delivery, sa.func.count())
            .where(r.c.run_key == run_key, r.c.delivery.is_not(None))
            .group_by(r.c.delivery)
        ).all()
    return dict(rows)


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
