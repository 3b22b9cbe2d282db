"""The history of campaign runs (已发送) and the mass jobs each one submitted."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .db import transaction, upsert
from .schema import mass_jobs, runs


def save_run(engine: Engine, run_key: str, **fields: Any) -> None:
    """Create the run's row or update the given fields."""
    with engine.begin() as connection:
        exists = connection.scalar(sa.select(sa.func.count()).select_from(runs).where(runs.c.run_key == run_key))
        if exists:
            connection.execute(sa.update(runs).where(runs.c.run_key == run_key).values(**fields))
        else:
            connection.execute(sa.insert(runs).values(run_key=run_key, created_at=time.time(), **fields))


def get_run(engine: Engine, run_key: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(runs).where(runs.c.run_key == run_key)).mappings().first()
    return dict(row) if row else None


def list_runs(
    engine: Engine, *, limit: int = 50, offset: int = 0, filters: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Newest first; ``filters`` on appid, conn_id, kind, status, tag, audience (exact) and created_from/_to
    (epoch seconds)."""
    query = sa.select(runs)
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        if name == "created_from":
            query = query.where(runs.c.created_at >= value)
        elif name == "created_to":
            query = query.where(runs.c.created_at < value)
        elif name == "tag":
            query = query.where(runs.c.audience == f"tag: {value}")
        elif name == "dag_ids":  # the DAGs whose runs the reader may see
            query = query.where(runs.c.dag_id.in_(value))
        else:
            query = query.where(runs.c[name] == value)
    query = query.order_by(runs.c.created_at.desc()).limit(limit).offset(offset)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def dag_ids(engine: Engine) -> list[str]:
    """The DAGs that have runs in the history."""
    with engine.connect() as connection:
        return [d for d in connection.scalars(sa.select(runs.c.dag_id).distinct()) if d]


def accounts(engine: Engine) -> list[str]:
    """Connection ids that have runs, for the Sent page's filter."""
    with engine.connect() as connection:
        return sorted(c for c in connection.scalars(sa.select(runs.c.conn_id).distinct()) if c)


def mass_job(engine: Engine, run_key: str, batch_no: int) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(mass_jobs).where(mass_jobs.c.run_key == run_key, mass_jobs.c.batch_no == batch_no)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def save_mass_job(connection: sa.Connection, run_key: str, batch_no: int, **fields: Any) -> None:
    upsert(connection, mass_jobs, [{"run_key": run_key, "batch_no": batch_no, **fields}])


def mass_jobs_of(engine: Engine, run_key: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(mass_jobs).where(mass_jobs.c.run_key == run_key).order_by(mass_jobs.c.batch_no)
        return [dict(row) for row in connection.execute(query).mappings()]


def record_mass_report(bind: Engine | sa.Connection, appid: str, msg_id: str, report: Mapping[str, Any]) -> str | None:
    """WeChat's MASSSENDJOBFINISH figures for one job of the account; returns the run it belongs to (None: no
    job of ours has this msg_id, or not yet)."""
    with transaction(bind) as connection:
        job = connection.execute(
            sa.select(mass_jobs.c.run_key, mass_jobs.c.batch_no)
            .join(runs, runs.c.run_key == mass_jobs.c.run_key)
            .where(mass_jobs.c.msg_id == msg_id, runs.c.appid == appid)
            .order_by(mass_jobs.c.submitted_at.desc())
            .limit(1)
        ).first()
        if job is None:
            return None
        connection.execute(
            sa.update(mass_jobs)
            .where(mass_jobs.c.run_key == job.run_key, mass_jobs.c.batch_no == job.batch_no)
            .values(
                wechat_status=report.get("status"),
                total_count=report.get("total"),
                filter_count=report.get("filter"),
                sent_count=report.get("sent"),
                error_count=report.get("error"),
                finished_at=time.time(),
            )
        )
        _sum_mass_reports(connection, job.run_key)
    return job.run_key


def _sum_mass_reports(connection: sa.Connection, run_key: str) -> None:
    """The run's WeChat figures: the sum of its jobs' reports so far."""
    totals = connection.execute(
        sa.select(
            sa.func.sum(mass_jobs.c.total_count),
            sa.func.sum(mass_jobs.c.filter_count),
            sa.func.sum(mass_jobs.c.sent_count),
            sa.func.sum(mass_jobs.c.error_count),
            sa.func.count(mass_jobs.c.finished_at),
            sa.func.count(),
        ).where(mass_jobs.c.run_key == run_key)
    ).one()
    report = dict(zip(("total", "filter", "sent", "error", "jobs_reported", "jobs"), totals, strict=True))
    connection.execute(sa.update(runs).where(runs.c.run_key == run_key).values(wechat_report=report))


def mass_sends_since(engine: Engine, appid: str, since: float, to_all: bool = False) -> int:
    """Mass jobs WeChat accepted for the account since ``since`` (epoch seconds), only those to all followers
    with ``to_all``: ours only."""
    accepted = [runs.c.appid == appid, mass_jobs.c.msg_id.is_not(None), mass_jobs.c.submitted_at >= since]
    if to_all:
        accepted.append(mass_jobs.c.to_all.is_(True))
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count())
            .select_from(mass_jobs.join(runs, runs.c.run_key == mass_jobs.c.run_key))
            .where(*accepted)
        ).scalar_one()
