"""A small client for Airflow 3's REST API (v2): what `gyre demo` and the end-to-end tests drive DAGs with.

It logs in with the generated admin password, and offers the few calls a person makes in the UI:
unpause, trigger, backfill, wait for a run, list its task instances.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from gyre.config import Settings, get_settings
from gyre.services.airflow import ADMIN_USER
from gyre.services.credentials import load_or_create
from gyre.services.endpoints import airflow_url

FINISHED = {"success", "failed"}


class AirflowError(RuntimeError):
    pass


class AirflowClient:
    def __init__(self, settings: Settings | None = None, timeout_s: float = 30.0) -> None:
        settings = settings or get_settings()
        base = airflow_url(settings)
        creds, _ = load_or_create(settings.home)
        login = httpx.post(
            f"{base}/auth/token",
            json={"username": ADMIN_USER, "password": creds.airflow_admin_password},
            timeout=timeout_s,
        )
        if login.status_code not in (200, 201):
            raise AirflowError(f"Airflow login failed: HTTP {login.status_code}")
        token = login.json()["access_token"]
        self.http = httpx.Client(
            base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120.0) -> None:
        """Wait until the dag-processor has parsed ``dag_id`` (new files take a parse cycle)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.http.get(f"/dags/{dag_id}").status_code == 200:
                return
            time.sleep(1)
        raise AirflowError(
            f"DAG {dag_id} did not appear within {timeout_s:.0f} s; see `airflow dags list-import-errors`"
        )

    def dag(self, dag_id: str) -> dict[str, Any]:
        """The DAG's details: paused or not, and when its next scheduled run is due (``next_dagrun_run_after``)."""
        return self._call("GET", f"/dags/{dag_id}")

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> str:
        """A manual run; with ``logical_date`` it also runs "as of" that moment (``run_after``), as a late run would."""
        body: dict[str, Any] = {"conf": conf or {}, "logical_date": logical_date.isoformat() if logical_date else None}
        if logical_date:
            body["run_after"] = logical_date.isoformat()
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def backfill(self, dag_id: str, start: datetime, end: datetime, max_active_runs: int = 2) -> int:
        body = {
            "dag_id": dag_id,
            "from_date": start.isoformat(),
            "to_date": end.isoformat(),
            "max_active_runs": max_active_runs,
            "reprocess_behavior": "completed",
        }
        return self._call("POST", "/backfills", json=body)["id"]

    def backfill_completed(self, backfill_id: int) -> bool:
        """The scheduler closes a backfill a while after its last run ends; a DAG takes one backfill at a time."""
        return self._call("GET", f"/backfills/{backfill_id}")["completed_at"] is not None

    def clear(self, dag_id: str, run_id: str) -> None:
        """Re-run a finished run's failed tasks (the UI's *Clear*), keeping its run id."""
        self._call("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False, "only_failed": True})

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Run these tasks of a run again now, whatever their state (the UI's *Clear* on them); a task waiting
        out its retry delay starts at once."""
        self._call(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 600.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in FINISHED:
                return state
            time.sleep(2)
        raise AirflowError(f"{dag_id} run {run_id} still running after {timeout_s:.0f} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
