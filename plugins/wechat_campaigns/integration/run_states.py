"""Airflow's own state of the campaign runs our history has not seen finish: a scheduled run marked failed
in Airflow before it sent was cancelled (the Sent page and ``wechat-campaigns history`` both say so)."""

from __future__ import annotations

from typing import Any


def airflow_states(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Airflow's own state of runs that have not finished by our history (to tell a cancelled scheduled run)."""
    open_runs = [
        row["dag_run_id"] for row in rows if row.get("status") in ("scheduled", "sending") and row.get("dag_run_id")
    ]
    if not open_runs:
        return {}
    try:
        import sqlalchemy as sa
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as session:
            found = session.execute(sa.select(DagRun.run_id, DagRun.state).where(DagRun.run_id.in_(open_runs))).all()
        return {run_id: str(state) for run_id, state in found}
    except Exception:  # the history must show even if Airflow's database does not answer
        return {}


def state_of(row: dict[str, Any], states: dict[str, str]) -> str | None:
    """Airflow's state of the row's run, when _airflow_states found it."""
    run_id = row.get("dag_run_id")
    return states.get(run_id) if isinstance(run_id, str) else None
