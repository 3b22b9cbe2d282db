"""Airflow's own state of the campaign runs, and the one change the Sent page makes to a run: cancelling a
scheduled send.

A scheduled run that Airflow ended before it sent was cancelled (the Sent page and ``wechat-campaigns
history`` both say so). Airflow 3.3 has no *cancelled* run state: a run is queued, running, success or
failed, and the REST API may set only queued, success or failed. The Sent page's *Cancel* sets the run to
**success** with a note saying who cancelled it and when, so that Airflow does not count it as a failure;
Airflow marks the waiting step success and skips every step after it, so nothing is sent. The change goes
through Airflow's REST API with the user's own token: Airflow's permission to edit the DAG's runs and its
audit log apply, and the note is the user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

# A run waiting for its send time: validate has run (or is about to), the wait has not ended, and no later
# step has a state; once one has started, fans may be receiving the message.
_VALIDATE, _WAIT = "validate", "wait_until_send_time"
_STILL_WAITING = {None, "scheduled", "queued", "running", "deferred", "up_for_reschedule"}


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


def _waiting(task_id: str, state: str | None) -> bool:
    if task_id == _VALIDATE:
        return state in _STILL_WAITING or state == "success"
    if task_id == _WAIT:
        return state in _STILL_WAITING
    return state is None


class AirflowRefused(Exception):
    """Airflow's REST API said no (403: the user may not edit the DAG's runs; 409: the run moved on)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class AirflowApi:
    """Airflow's REST API (``/api/v2``) of the API server that serves the Sent page, called as the user."""

    base_url: str
    token: str
    verify: bool = True

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = requests.request(
            method,
            f"{self.base_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            verify=self.verify,
            **kwargs,
        )
        if answer.status_code >= 400:
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = answer.text
            raise AirflowRefused(answer.status_code, str(detail or answer.reason))
        return answer.json()

    def still_waiting(self, dag_id: str, run_id: str) -> bool:
        """The run has not left its wait for the send time: nothing after it has started."""
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        if self._call("GET", path).get("state") not in ("queued", "running"):
            return False
        tasks = self._call("GET", f"{path}/taskInstances", params={"limit": 100})["task_instances"]
        return all(_waiting(task["task_id"], task.get("state")) for task in tasks)

    def start(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """Start a run of ``dag_id`` with ``conf`` (the Compose page's Send)."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        return self._call("POST", f"/dags/{quote(dag_id, safe='')}/dagRuns", json=body)

    def cancel(self, dag_id: str, run_id: str, note: str) -> dict[str, Any]:
        """End the run as success with ``note``: Airflow skips every step not yet run."""
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        return self._call("PATCH", path, json={"state": "success", "note": note})
