"""The same DAGs on Airflow's CeleryExecutor: the ingest -> features -> train chain runs with its tasks spread
over two workers, and a worker killed mid-task ends with the task retried and exactly the rows a clean run loads."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gyre.config import Settings, load_settings
from gyre.services.airflow_api import AirflowClient
from gyre.services.endpoints import libpq_url
from tests.conftest import private_stack_env
from tests.e2e.test_platform_up import GYRE, gyre

pytestmark = pytest.mark.stack

DAG = "ingest_transactions"
# Five days: enough for two runs on each worker at once and a training window whose chargebacks have arrived.
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 5)
# Train as of the day after LAST on a 2-day window that ends 3 days earlier: 5,545 rows, 32 reported frauds.
TRAIN_AS_OF = dt.datetime.combine(LAST + dt.timedelta(days=1), dt.time(), dt.UTC)
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
    env = private_stack_env(
        "gyre-celery-",
        GYRE_CELERY_WORKERS="2",
        GYRE_TASK_RETRY_DELAY_S="2",
        GYRE_TRAINING_WINDOW_DAYS="2",
        GYRE_TRAINING_LABEL_DELAY_DAYS="3",
        GYRE_TRAINING_MIN_POSITIVES="20",  # the chain is what runs here, not the model's quality
        GYRE_RAG_INDEX_ON_START="false",  # the document index is not what this test runs on the workers
        # A killed worker's task stops heartbeating; let the scheduler notice in seconds, not five minutes.
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="15",
    )
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


def wait_all_runs(
    client: AirflowClient, count: int, dag: str = DAG, prefix: str = "backfill__", timeout_s: float = 600
) -> list[dict]:
    """The DAG's runs whose id starts with ``prefix``, once at least ``count`` exist and all have finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = [r for r in client.runs(dag) if r["dag_run_id"].startswith(prefix)]
        if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"{dag} runs not finished: {[(r['dag_run_id'], r['state']) for r in runs]}")


def feature_days(settings: Settings) -> set[dt.date]:
    """Days with feature rows: a day's rows are stamped at its end, when its batch lands."""
    with psycopg.connect(libpq_url(settings)) as conn:
        rows = conn.execute(
            "select distinct (event_timestamp at time zone 'UTC' - interval '1 day')::date from customer_features"
        )
        return {day for (day,) in rows}


def test_ingest_features_and_training_run_on_both_workers(celery_env: dict[str, str]) -> None:
    settings = settings_for(celery_env)
    client = AirflowClient(settings)
    for dag in (DAG, "build_features", "train_model"):
        client.wait_for_dag(dag)
        client.unpause(dag)
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

    # The ingest Assets start build_features (a backfill's queued events may come as one run or several).
    every_day = {FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)}
    deadline = time.monotonic() + 600
    while feature_days(settings) < every_day and time.monotonic() < deadline:
        time.sleep(3)
    feature_runs = wait_all_runs(client, count=1, dag="build_features", prefix="")
    assert {r["state"] for r in feature_runs} == {"success"}, feature_runs
    assert feature_days(settings) >= every_day

    run_id = client.trigger("train_model", logical_date=TRAIN_AS_OF, conf={"request_id": "celery-chain"})
    assert client.wait_for_run("train_model", run_id, timeout_s=900) == "success"
    trained = {t["task_id"]: t["state"] for t in client.task_instances("train_model", run_id)}
    assert trained["register"] == "success" and "success" in (trained["promote"], trained["reject"]), trained

    ran = executed_by_worker(Path(celery_env["GYRE_HOME"]))
    per_worker = {n: {t["dag"] for t in tasks} for n, tasks in ran.items()}
    print({n: len(tasks) for n, tasks in ran.items()}, per_worker)
    assert all(per_worker.values()), per_worker
    assert set().union(*per_worker.values()) >= {DAG, "build_features", "train_model"}, per_worker


def test_a_worker_killed_mid_task_retries_and_loads_the_same_rows(celery_env: dict[str, str]) -> None:
    settings = settings_for(celery_env)
    home = Path(celery_env["GYRE_HOME"])
    client = AirflowClient(settings)
    day = FIRST + dt.timedelta(days=1)
    clean = day_digest(settings, day)
    assert clean[0] > 1000

    run = next(r for r in client.runs(DAG) if r["data_interval_start"].startswith(str(day)))
    before = {n: len(tasks) for n, tasks in executed_by_worker(home).items()}
    client.clear_tasks(DAG, run["dag_run_id"], ["load_transactions"])

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
