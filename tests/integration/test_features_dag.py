"""The `build_features` DAG, run for one ingested day with `dag.test()` against the real Postgres and Redis.

Airflow's own metadata lives in a temporary SQLite database. One run checks the wiring end to end: the day's
feature rows computed, definitions applied, materialized, fresh and without skew, and the Asset event.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from gyre.config import get_settings
from gyre.data.writer import write_day

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "build_features.py"
DAY = dt.date(2034, 7, 10)

_RUN = """
import json, runpy
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
dag = runpy.run_path({dag_file!r})["dag"]
run = dag.test(run_conf={{"day": {day!r}}})
with create_session() as session:
    events = [{{"uri": e.asset.uri, "extra": e.extra}} for e in session.query(AssetEvent).all()]
print("RESULT", json.dumps({{"state": str(run.state), "events": events}}))
"""


def test_one_day_is_built_materialized_checked_and_announced(database_url: str, redis_url: str, tmp_path: Path) -> None:
    from gyre.db import engine
    from gyre.features.store import feature_store
    from gyre.ingest.load import ingest

    write_day(get_settings().landing, DAY, seed=5)
    loaded = ingest("transactions", DAY, publish_docs=False).rows_loaded
    ingest("labels", DAY, publish_docs=False)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "GYRE_TASK_RETRY_DELAY_S": "1",
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    script = _RUN.format(dag_file=str(DAG_FILE), day=DAY.isoformat())
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["state"].endswith("success"), result.stdout[-3000:] + result.stderr[-3000:]
    (event,) = [e["extra"] for e in outcome["events"] if e["uri"] == "online_features"]
    # Validated days that other tests of the session loaded without building features are caught up too.
    assert DAY.isoformat() in event["days"] and set(event["rows"]) == set(event["days"])
    assert event["feature_service"] == "fraud_model_v2" and event["skew_checked"] >= 50

    start = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    with engine().connect() as connection:
        customers = connection.execute(
            sa.text(
                "select count(distinct customer_id) from transactions "
                "where event_timestamp >= :start and event_timestamp < :end"
            ),
            {"start": start, "end": start + dt.timedelta(days=1)},
        ).scalar()
        last = connection.execute(
            sa.text(
                "select customer_id, max(event_timestamp) from customer_features "
                "where event_timestamp > :start and event_timestamp <= :end group by customer_id limit 1"
            ),
            {"start": start, "end": start + dt.timedelta(days=1)},
        ).one()
    # One row per customer who transacted that day, stamped at the day's end; an intraday row per transaction
    # and entity (customer and merchant).
    assert event["rows"][DAY.isoformat()]["customer_rows"] == customers and loaded > customers > 1000
    assert event["rows"][DAY.isoformat()]["intraday_rows"] == 2 * loaded
    assert last[1] == start + dt.timedelta(days=1)
    online = feature_store(fresh=True).get_online_features(
        features=["customer_features:cust_txn_count_30d"], entity_rows=[{"customer_id": last[0]}]
    )
    assert online.to_dict()["cust_txn_count_30d"][0] is not None
    # The intraday view is materialized too: the state after the customer's last transaction of the day.
    streamed = feature_store(fresh=True).get_online_features(
        features=["customer_intraday:cust_rt_last_txn_epoch_s"], entity_rows=[{"customer_id": last[0]}]
    )
    with engine().connect() as connection:
        newest = connection.execute(
            sa.text(
                "select max(event_timestamp) from transactions where customer_id = :customer "
                "and event_timestamp >= :start and event_timestamp < :end"
            ),
            {"customer": last[0], "start": start, "end": start + dt.timedelta(days=1)},
        ).scalar()
    assert streamed.to_dict()["cust_rt_last_txn_epoch_s"][0] == newest.timestamp()
