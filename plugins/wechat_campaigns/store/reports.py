"""Pushes from WeChat, kept once, and its job-finish reports matched to our sends whichever comes first.

WeChat pushes ``TEMPLATESENDJOBFINISH`` within a second of a send, often before the send task has written
the fan's msg_id; ``MASSSENDJOBFINISH`` may likewise beat the mass job's msg_id. So both sides look for the
other: the push applies itself to the recipient (or job) it finds, and the send, once its msg_ids are
committed, applies the reports already stored for them (``catch_up_deliveries``, ``catch_up_mass_report``).
A mass job WeChat reports failed fails its fans and, if write_history already gave the run its verdict, gives
it again (``apply_mass_report``): a run never stays ``completed`` after WeChat said its job failed.

On PostgreSQL the two transactions could pass each other unseen (each reading before the other commits), so
a report's transaction holds a shared advisory lock of its account and ``catch_up`` an exclusive one: a
catch-up waits for the reports in flight, and reports that come during it wait for it. SQLite runs one
write transaction at a time, which gives the same order.
"""

from __future__ import annotations

import json
import weakref
import zlib
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..domain import verdict
from . import history, ledger
from .db import is_psycopg2
from .schema import callback_events as events
from .schema import mass_jobs, recipients, runs

TEMPLATE_REPORT, MASS_REPORT = "TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH"
UNMATCHED = "unmatched"  # a report no send of ours has claimed (yet): kept, and said so
_IN_CHUNK = 900  # msg_ids per IN list, under SQLite's parameter limit


# Statements are built once and given their values as parameters: building one per push (``.values(...)``)
# cost more of the receiver's CPU than the database's work.
_DELIVER = (
    sa.update(recipients)
    .where(recipients.c.msg_id == sa.bindparam("m"), recipients.c.openid == sa.bindparam("o"))
    .values(delivery=sa.bindparam("s"))
)


_OUTCOME = (
    sa.update(events)
    .where(events.c.appid == sa.bindparam("a"), events.c.dedupe_key == sa.bindparam("k"))
    .values(outcome=sa.bindparam("outcome"))
)


@cache
def _keep(dialect: str) -> sa.Insert:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(events)
    return insert.on_conflict_do_nothing().returning(events.c.appid, events.c.dedupe_key)


def add_events(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """Keep pushes; returns the (appid, dedupe_key) of those that are new. A key seen before (a WeChat
    retry), or a signature's nonce used before, is left out by the insert itself: the table's unique keys are
    the only check."""
    if not rows:
        return set()
    found = connection.execute(_keep(connection.dialect.name), [dict(row) for row in rows]).all()
    return {(row.appid, row.dedupe_key) for row in found}


# PostgreSQL: a batch's pushes are kept, its template reports applied to their recipients and its fans'
# interactions added by one statement (data-modifying CTEs), prepared once per connection (planning it cost as
# much as running it) and given the batch as arrays; it is sent in one round trip with the account's lock
# before it. The lock is a statement of its own so that the CTEs' snapshot is taken once it is held (see the
# module doc). All sub-statements see the same snapshot, and the events' insert reads the deliveries' RETURNING,
# so a report says in its outcome whether it found its recipient. Only pushes the insert kept (not refused by a
# unique key: a retry or a replay) add an interaction.
_EVENT_COLUMNS = {
    "appid": "text", "dedupe_key": "text", "msg_type": "text", "event": "text", "openid": "text",
    "created_at": "bigint", "received_at": "float8", "outcome": "text", "payload": "text", "msg_id": "text",
    "report_status": "text", "signed_at": "bigint", "nonce": "text",
}  # fmt: skip
_WINDOW_COLUMNS = {
    "appid": "text", "event_key": "text", "openid": "text", "kind": "text", "at": "float8", "dedupe_key": "text",
}  # fmt: skip
_KEEP_AND_APPLY_NAME = "wechat_keep_and_apply_v1"


def _arrays(columns: Mapping[str, str], first: int) -> tuple[str, str]:
    """``unnest($first::type[], ...)`` over the columns, and their names."""
    params = ", ".join(f"${first + n}::{kind}[]" for n, kind in enumerate(columns.values()))
    return f"unnest({params})", ", ".join(columns)


_EVENTS, _EVENT_NAMES = _arrays(_EVENT_COLUMNS, 1)
_WINDOWS, _WINDOW_NAMES = _arrays(_WINDOW_COLUMNS, len(_EVENT_COLUMNS) + 1)
_PREPARE = f"""
PREPARE {_KEEP_AND_APPLY_NAME} AS
WITH v AS (SELECT * FROM {_EVENTS} WITH ORDINALITY AS v ({_EVENT_NAMES}, n)),
delivered AS (
    UPDATE recipients AS r SET delivery = v.report_status FROM v
    WHERE v.event = '{TEMPLATE_REPORT}' AND r.msg_id = v.msg_id AND r.openid = v.openid
    RETURNING r.openid, r.msg_id
),
kept AS (
    INSERT INTO callback_events ({_EVENT_NAMES})
    SELECT v.appid, v.dedupe_key, v.msg_type, v.event, v.openid, v.created_at, v.received_at,
        CASE WHEN v.event = '{TEMPLATE_REPORT}' AND NOT EXISTS (
            SELECT FROM delivered AS d WHERE d.openid = v.openid AND d.msg_id = v.msg_id
        ) THEN 'delivery:{UNMATCHED}' ELSE v.outcome END,
        v.payload::json, v.msg_id, v.report_status, v.signed_at, v.nonce
    FROM v ORDER BY v.n
    ON CONFLICT DO NOTHING
    RETURNING appid, dedupe_key, outcome
),
windows AS (
    INSERT INTO interactions (appid, openid, kind, at, source, dedupe_key)
    SELECT w.appid, w.openid, w.kind, w.at, 'callback', w.dedupe_key
    FROM {_WINDOWS} AS w ({_WINDOW_NAMES})
    JOIN kept ON kept.appid = w.appid AND kept.dedupe_key = w.event_key
    ON CONFLICT DO NOTHING
)
SELECT appid, dedupe_key, outcome FROM kept
"""  # noqa: S608 - names and types from our schema; the values are parameters
_EXECUTE = "EXECUTE {} ({})".format(  # each array cast: one of only NULLs would be text[]
    _KEEP_AND_APPLY_NAME, ", ".join(f"%s::{kind}[]" for kind in [*_EVENT_COLUMNS.values(), *_WINDOW_COLUMNS.values()])
)
_prepared: weakref.WeakSet = weakref.WeakSet()  # DBAPI connections that have the statement


def keep_and_apply(
    connection: sa.Connection, rows: Sequence[Mapping[str, Any]], windows: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], str]:
    """PostgreSQL (psycopg2): keep pushes (rows as for ``add_events``), apply their template reports, and add
    ``windows`` (interactions: ``event_key`` is the push's dedupe_key, then ``openid``, ``kind``, ``at``,
    ``dedupe_key``) for the pushes kept, in one round trip that holds the accounts' report locks first.
    Returns the (appid, dedupe_key) of the pushes that are new, with the outcome stored for each."""
    if not rows:
        return {}
    dbapi = connection.connection.dbapi_connection
    cursor = connection.connection.cursor()  # the caller's transaction
    if dbapi not in _prepared:  # a prepared statement outlives a rolled-back transaction
        cursor.execute(_PREPARE)
        _prepared.add(dbapi)
    arrays = [[_value(row, name) for row in rows] for name in _EVENT_COLUMNS]
    arrays += [[window[name] for window in windows] for name in _WINDOW_COLUMNS]
    statement = cursor.mogrify(_EXECUTE, arrays)
    locks = sorted({_lock_key(row["appid"]) for row in rows if row["msg_id"]})
    if locks:  # a statement of its own, before the one that reads recipients (READ COMMITTED: a new snapshot)
        held = ", ".join(f"pg_advisory_xact_lock_shared({key})" for key in locks)
        statement = f"SELECT {held};".encode() + statement
    cursor.execute(statement)
    return {(appid, key): outcome for appid, key, outcome in cursor.fetchall()}


def _value(row: Mapping[str, Any], name: str) -> Any:
    value = row[name]
    return json.dumps(value) if name == "payload" and value is not None else value


def set_outcomes(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Correct what kept pushes say they changed (a report that found no send is ``unmatched``)."""
    if rows:
        params = [{"a": row["appid"], "k": row["dedupe_key"], "outcome": row["outcome"]} for row in rows]
        connection.execute(_OUTCOME, params)


def kept(connection: sa.Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (appid, dedupe_key) are stored."""
    found: set[tuple[str, str]] = set()
    for appid in {appid for appid, _ in keys}:
        mine = [key for a, key in keys if a == appid]
        for start in range(0, len(mine), _IN_CHUNK):
            query = sa.select(events.c.dedupe_key).where(
                events.c.appid == appid, events.c.dedupe_key.in_(mine[start : start + _IN_CHUNK])
            )
            found |= {(appid, key) for key in connection.scalars(query)}
    return found


def hold_account(connection: sa.Connection, appid: str, *, exclusive: bool = False) -> None:
    """Order report transactions against catch-ups of the same account (PostgreSQL; see the module doc)."""
    if connection.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    connection.execute(sa.text(f"SELECT {function}(:key)"), {"key": _lock_key(appid)})


def _lock_key(appid: str) -> int:
    return zlib.crc32(f"wechat-reports:{appid}".encode())


def deliver(connection: sa.Connection, reports: Sequence[tuple[str, str, str]]) -> set[tuple[str, str]]:
    """Template reports (openid, msg_id, status) for recipients whose msg_id is written; returns the
    (openid, msg_id) pairs that found theirs. One statement (on SQLite one per 300 reports)."""
    if not reports:
        return set()
    if is_psycopg2(connection):
        from psycopg2.extras import execute_values

        returned = execute_values(
            connection.connection.cursor(),
            "UPDATE recipients AS r SET delivery = v.s FROM (VALUES %s) AS v(o, m, s) "
            "WHERE r.msg_id = v.m AND r.openid = v.o RETURNING r.openid, r.msg_id",
            list(reports),
            page_size=len(reports),
            fetch=True,
        )
        return {tuple(row) for row in returned}
    dbapi = connection.dialect.dbapi  # the sqlite3 module on SQLite
    if connection.dialect.name == "sqlite" and dbapi is not None and dbapi.sqlite_version_info >= (3, 35):
        found: set[tuple[str, str]] = set()
        for start in range(0, len(reports), _IN_CHUNK // 3):  # three parameters a report
            chunk = reports[start : start + _IN_CHUNK // 3]
            statement = _SQLITE_DELIVER.format(values=", ".join(["(?, ?, ?)"] * len(chunk)))
            found |= {tuple(row) for row in connection.exec_driver_sql(statement, tuple(v for r in chunk for v in r))}
        return found
    return {(o, m) for o, m, s in reports if connection.execute(_DELIVER, {"m": m, "o": o, "s": s}).rowcount}


# SQLite (3.35 and later: UPDATE ... FROM, RETURNING): the batch's reports in one statement as well.
_SQLITE_DELIVER = (
    "UPDATE recipients SET delivery = v.column3 FROM (VALUES {values}) AS v "
    "WHERE recipients.msg_id = v.column2 AND recipients.openid = v.column1 "
    "RETURNING recipients.openid, recipients.msg_id"
)


def catch_up_deliveries(engine: Engine, appid: str, run_key: str, msg_ids: Sequence[str]) -> int:
    """Apply the template reports that arrived before these msg_ids of the run were written; returns how
    many recipients got their delivery."""
    applied = 0
    for start in range(0, len(msg_ids), _IN_CHUNK):
        chunk = list(msg_ids[start : start + _IN_CHUNK])
        with engine.begin() as connection:
            hold_account(connection, appid, exclusive=True)
            applied += _catch_up_chunk(connection, appid, run_key, chunk)
    return applied


def _catch_up_chunk(connection: sa.Connection, appid: str, run_key: str, msg_ids: list[str]) -> int:
    waiting = (events.c.appid == appid) & (events.c.event == TEMPLATE_REPORT) & events.c.msg_id.in_(msg_ids)
    applied = connection.execute(
        sa.update(recipients)
        .where(
            recipients.c.run_key == run_key,
            recipients.c.msg_id.in_(msg_ids),
            recipients.c.msg_id == events.c.msg_id,
            recipients.c.openid == events.c.openid,
            waiting,
        )
        .values(delivery=events.c.report_status)
    ).rowcount
    if applied:
        connection.execute(
            sa.update(events)
            .where(waiting, events.c.outcome == f"delivery:{UNMATCHED}")
            .values(outcome=sa.literal("delivery:") + events.c.report_status)
        )
    return applied


def catch_up_mass_report(engine: Engine, appid: str, msg_id: str) -> bool:
    """Apply the MASSSENDJOBFINISH that arrived before this job's msg_id was written, if one did."""
    with engine.begin() as connection:
        hold_account(connection, appid, exclusive=True)
        mine = (events.c.appid == appid) & (events.c.event == MASS_REPORT) & (events.c.msg_id == msg_id)
        payload = connection.scalar(sa.select(events.c.payload).where(mine, events.c.outcome != "mass_report").limit(1))
        if payload is None or apply_mass_report(connection, appid, msg_id, mass_figures(payload)) is None:
            return False
        connection.execute(sa.update(events).where(mine).values(outcome="mass_report"))
    return True


def apply_mass_report(connection: sa.Connection, appid: str, msg_id: str, figures: Mapping[str, Any]) -> str | None:
    """A MASSSENDJOBFINISH (``mass_figures``) on its job and its run, in the caller's transaction; returns the
    run (None: no job of ours has this msg_id, or not yet). Applying it again changes nothing.

    A job that reached nobody (``send fail``, ``err(N)``, or only errors) moves its fans from sent to failed,
    with a reason naming why (domain/verdict.py). A run whose verdict write_history already gave gets it again,
    here, from its stored counts and its jobs: what write_history would say now. (A run not given its verdict
    yet gets it from write_history, which looks at its jobs again after writing it: see summary.py.)"""
    run_key = history.record_mass_report(connection, appid, msg_id, figures)
    if run_key is None:
        return None
    status, moved = figures.get("status"), 0
    reason = verdict.failed_reason(status)
    if verdict.job_outcome(status, figures.get("sent"), figures.get("error")) == verdict.FAILED:
        moved = ledger.fail_mass_job(connection, run_key, msg_id, reason)
    _give_verdict_again(connection, run_key, moved, reason)
    return run_key


_JOB_REPORT = ("msg_id", "wechat_status", "total_count", "filter_count", "sent_count", "error_count", "finished_at")


def _give_verdict_again(connection: sa.Connection, run_key: str, moved: int, reason: str) -> None:
    """The run's status and error from its counts (with ``moved`` fans now failed for ``reason``) and its jobs'
    reports. Read after record_mass_report updated the run's row, so that on PostgreSQL the row's lock orders
    this against write_history's write of it."""
    row = connection.execute(sa.select(runs.c.status, runs.c.counts).where(runs.c.run_key == run_key)).first()
    if row is None or row.status not in verdict.VERDICTS or not row.counts:
        return
    counts = dict(row.counts)
    by_status, by_reason = dict(counts.get("status") or {}), dict(counts.get("reasons") or {})
    if moved:
        by_status[ledger.SENT] = by_status.get(ledger.SENT, 0) - moved
        if not by_status[ledger.SENT]:
            del by_status[ledger.SENT]  # as the ledger's counts would leave it out
        by_status[ledger.FAILED] = by_status.get(ledger.FAILED, 0) + moved
        by_reason[f"{ledger.FAILED}:{reason}"] = by_reason.get(f"{ledger.FAILED}:{reason}", 0) + moved
        counts.update(status=by_status, reasons=by_reason)
    jobs = connection.execute(
        sa.select(*(mass_jobs.c[name] for name in _JOB_REPORT))
        .where(mass_jobs.c.run_key == run_key)
        .order_by(mass_jobs.c.batch_no)
    ).mappings()
    status, problem = verdict.of_run(by_status, by_reason, [dict(job) for job in jobs], counts.get("send_error"))
    connection.execute(
        sa.update(runs).where(runs.c.run_key == run_key).values(status=status, error=problem, counts=counts)
    )


def mass_figures(fields: Mapping[str, str]) -> dict[str, Any]:
    """A MASSSENDJOBFINISH's status and counts (WeChat's TotalCount, FilterCount, SentCount, ErrorCount)."""
    return {
        "status": (fields.get("Status") or "")[:32],
        "total": _int(fields.get("TotalCount")),
        "filter": _int(fields.get("FilterCount")),
        "sent": _int(fields.get("SentCount")),
        "error": _int(fields.get("ErrorCount")),
    }


def _int(value: str | None) -> int | None:
    return int(value) if value and len(value) < 12 and value.lstrip("-").isdigit() else None


def prune(engine: Engine, received_before: float, chunk: int = 10_000) -> int:
    """Delete the pushes received before ``received_before`` (epoch seconds), ``chunk`` rows a transaction so
    that SQLite's writers are never held up for long; returns how many went. What they changed stays: the
    recipients' deliveries, the mass jobs' figures, interactions and fans are kept in their own tables."""
    with engine.connect() as connection:
        appids = list(connection.scalars(sa.select(events.c.appid).distinct()))
    deleted = 0
    for appid in appids:
        while True:
            old = (
                sa.select(events.c.dedupe_key)
                .where(events.c.appid == appid, events.c.received_at < received_before)
                .limit(chunk)
            )
            with engine.begin() as connection:
                gone = connection.execute(
                    sa.delete(events).where(events.c.appid == appid, events.c.dedupe_key.in_(old.scalar_subquery()))
                ).rowcount
            deleted += gone
            if gone < chunk:
                break
    return deleted
