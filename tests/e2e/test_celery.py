"""The same DAGs on Airflow's CeleryExecutor: tasks spread over two workers, and a worker killed mid-task
ends with the task retried and exactly the rows a clean run loads."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gyre.config import Settings, load_settings
from gyre.services.airflow_api import AirflowClient
from gyre.services.endpoints import libpq_url
from tests.conftest import isolated_env
from tests.e2e.test_platform_up import GYRE, gyre

pytestmark = pytest.mark.stack

DAG = "ingest_transactions"
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 4)
EXECUTING = re.compile(
    r"Executing workload in Celery: .*log_path='dag_id=(?P<dag>[^/]+)/run_id=(?P<run>[^/]+)/"
    r"task_id=(?P<task>[^/]+)/attempt=(?P<attempt>\d+)\.log'"
)


def settings_for(env: dict[str, str]) -> Settings:
    return load_settings(
        home=Path(env["GYRE_HOME"]),
        airflow_port=int(env["GYRE_AIRFLOW_PORT"]),
        postgres_port=int(env["GYRE_POSTGRES_PORT"]),
        redis_port=int(env["GYRE_REDIS_PORT"]),
    )


def executed_by_worker(home: Path) -> dict[str, list[dict[str, str]]]:
    """What each Celery worker ran, read from its own log."""
    return {
        f"worker{n}": [
            m.groupdict()
            for m in EXECUTING.finditer((home / "logs" / f"airflow-celery-worker{n}.log").read_text(errors="replace"))
        ]
        for n in (1, 2)
    }


def day_digest(settings: Settings, day: dt.date) -> tuple[int, str]:
    """Rows of ``day`` in ``transactions`` and an MD5 over them in key order, straight from the table."""
    with psycopg.connect(libpq_url(settings)) as conn:
        return conn.execute(
            "select count(*), md5(coalesce(string_agg(t::text, '|' order by transaction_id), '')) from transactions t "
            "where event_timestamp >= %s and event_timestamp < %s",
            (day, day + dt.timedelta(days=1)),
        ).fetchone()


@pytest.fixture(scope="module")
def celery_env() -> Iterator[dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="gyre-celery-"))
    env = {
        **os.environ,
        **isolated_env(home),
        "GYRE_CELERY_WORKERS": "2",
        "GYRE_TASK_RETRY_DELAY_S": "2",
        # A killed worker's task stops heartbeating; let the scheduler notice in seconds, not five minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    }
    for inherited in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__UNIT_TEST_MODE"):
        env.pop(inherited, None)
    up = gyre(env, "up", "--detach", "--executor", "celery")
    assert up.returncode == 0, up.stderr
    generated = subprocess.run(
        [GYRE, "data", "generate", "--start", str(FIRST), "--end", str(LAST)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    yield env
    gyre(env, "down")


def wait_all_runs(client: AirflowClient, count: int, timeout_s: float = 600) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = [r for r in client.runs(DAG) if r["dag_run_id"].startswith("backfill__")]
        if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"backfill not finished: {[(r['dag_run_id'], r['state']) for r in runs]}")


def test_a_backfill_spreads_over_both_workers(celery_env: dict[str, str]) -> None:
    client = AirflowClient(settings_for(celery_env))
    client.wait_for_dag(DAG)
    client.unpause(DAG)
    start = dt.datetime.combine(FIRST, dt.time(), dt.UTC)
    client.backfill(DAG, start, dt.datetime.combine(LAST, dt.time(), dt.UTC), max_active_runs=4)
    runs = wait_all_runs(client, count=(LAST - FIRST).days + 1)
    assert {r["state"] for r in runs} == {"success"}, runs
    # Loads of different days on different workers must not collide (no deadlock, no catalog race): a clean
    # backfill succeeds at the first try, retries are for real failures.
    tries = {
        (r["dag_run_id"], t["task_id"]): t["try_number"]
        for r in runs
        for t in client.task_instances(DAG, r["dag_run_id"])
    }
    assert set(tries.values()) == {1}, tries
    ran = executed_by_worker(Path(celery_env["GYRE_HOME"]))
    mine = {n: [t for t in tasks if t["dag"] == DAG] for n, tasks in ran.items()}
    print({n: len(tasks) for n, tasks in mine.items()})
    assert mine["worker1"] and mine["worker2"], mine


def test_a_worker_killed_mid_task_retries_and_loads_the_same_rows(celery_env: dict[str, str]) -> None:
    settings = settings_for(celery_env)
    home = Path(celery_env["GYRE_HOME"])
    client = AirflowClient(settings)
    day = FIRST + dt.timedelta(days=1)
    clean = day_digest(settings, day)
    assert clean[0] > 1000

    run = next(r for r in client.runs(DAG) if r["data_interval_start"].startswith(str(day)))
    before = {n: len(tasks) for n, tasks in executed_by_worker(home).items()}
    client._call(
        "POST",
        f"/dags/{DAG}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run["dag_run_id"],
            "task_ids": ["load_transactions"],
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )

    # Find the worker that picked the task up, and kill it (its whole process group) while the task runs.
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        for name, tasks in executed_by_worker(home).items():
            if any(t["run"] == run["dag_run_id"] and t["task"] == "load_transactions" for t in tasks[before[name] :]):
                victim = name
        time.sleep(0.1)
    assert victim, "no worker picked up the cleared task"
    state = json.loads((home / "run" / "state.json").read_text())
    airflow_pids = next(r["pids"] for r in state["services"] if r["name"] == "airflow")
    worker_pid = airflow_pids[4 + int(victim[-1]) - 1]  # api-server, scheduler, dag-processor, triggerer, workers
    os.killpg(worker_pid, signal.SIGKILL)

    assert client.wait_for_run(DAG, run["dag_run_id"], timeout_s=600) == "success"
    task = next(t for t in client.task_instances(DAG, run["dag_run_id"]) if t["task_id"] == "load_transactions")
    assert task["state"] == "success" and task["try_number"] >= 2, task
    assert day_digest(settings, day) == clean
    with psycopg.connect(libpq_url(settings)) as conn:
        rows_in, loaded, quarantined = conn.execute(
            "select sum(rows_in), sum(rows_loaded), sum(rows_quarantined) from ingest_audit "
            "where feed = 'transactions' and batch_date = %s",
            (day,),
        ).fetchone()
    assert rows_in == loaded + quarantined and loaded == clean[0]
