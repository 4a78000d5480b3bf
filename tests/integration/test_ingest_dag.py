"""The `ingest_transactions` DAG, run for one interval with `dag.test()` against the real Postgres.

Airflow's own metadata lives in a temporary SQLite database; the loads go to the session's Postgres.
One run checks the wiring end to end: both feeds loaded, the Asset event carries the digest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from gyre.config import get_settings
from gyre.data.writer import write_day
from tests.integration import ingest_support

pytestmark = pytest.mark.integration
conninfo = ingest_support.conninfo
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "ingest_transactions.py"

_RUN = """
import datetime as dt, json, runpy
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
dag = runpy.run_path({dag_file!r})["dag"]
run = dag.test(logical_date=dt.datetime({y}, {m}, {d}, tzinfo=dt.timezone.utc))
with create_session() as session:
    events = [e.extra for e in session.query(AssetEvent).all()]
print("RESULT", json.dumps({{"state": str(run.state), "events": events}}))
"""


def test_one_interval_loads_both_feeds_and_updates_the_asset(conninfo: str, tmp_path: Path) -> None:
    day = dt.date(2033, 5, 4)
    write_day(get_settings().landing, day, seed=3)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "GYRE_TASK_RETRY_DELAY_S": "1",  # a failing task fails the run in seconds instead of waiting to retry
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    # A manual run at midnight after ``day`` covers the complete interval ``day`` (the timetable's last one).
    after = day + dt.timedelta(days=1)
    script = _RUN.format(dag_file=str(DAG_FILE), y=after.year, m=after.month, d=after.day)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["state"].endswith("success"), result.stdout[-3000:] + result.stderr[-3000:]
    logs = result.stdout + result.stderr
    assert "quarantined; digest" in logs, "the task logs are part of the output"
    assert "Skipping registering function" not in logs, "Great Expectations' import chatter is silenced"
    by_feed = {event["feed"]: event for event in outcome["events"]}
    assert set(by_feed) == {"transactions", "labels"}
    with psycopg.connect(conninfo) as conn:
        digest, rows = conn.execute(
            "select digest, rows from ingest_snapshot where feed = 'transactions' and batch_date = %s", (day,)
        ).fetchone()
    assert by_feed["transactions"]["digest"] == digest
    assert by_feed["transactions"]["rows_loaded"] == rows > 2000
