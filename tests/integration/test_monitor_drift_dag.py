"""The `monitor_drift` DAG under `dag.test()`, against the real Postgres and MLflow.

A champion is trained and promoted on a clean week; serving traffic is written into `prediction_log` for
three nights. One subprocess runs the DAG for each night in turn (Airflow's metadata in SQLite):
a clean night takes `no_action`; an amount-inflated night writes its report and decision and emits
`retrain_request`; the next drifted night is held back because that retrain is still in flight.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gyre.config import load_settings
from gyre.db import engine
from gyre.registry import models
from gyre.training import flow
from gyre.training.spec import FRAUD
from gyre.training.synthetic import fraud_frame
from gyre.training.tracking import Lineage
from tests.integration.airflow_support import migrated_airflow_env
from tests.integration.monitoring_support import log_predictions, night_traffic, report_chargebacks

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "monitor_drift.py"
TRAIN_START = dt.date(2026, 3, 2)
CLEAN, DRIFTED, DRIFTED_AGAIN = dt.date(2026, 3, 19), dt.date(2026, 3, 20), dt.date(2026, 3, 21)

_RUN = """
import datetime as dt, json, runpy
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
dag = runpy.run_path({dag_file!r})["dag"]
out = {{}}
for night in {nights!r}:
    run = dag.test(logical_date=dt.datetime.fromisoformat(night).replace(tzinfo=dt.timezone.utc) + dt.timedelta(days=1))
    out[night] = {{
        "state": str(run.state),
        "interval": [str(run.data_interval_start), str(run.data_interval_end)],
        "tasks": {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}},
    }}
with create_session() as session:
    events = [{{"asset": e.asset.name, "extra": e.extra}} for e in session.query(AssetEvent).all()]
print("RESULT", json.dumps({{"runs": out, "events": events}}))
"""


@pytest.fixture(scope="module")
def champion(database_url: str, mlflow_tracking_uri: str):
    # A linear model: trained in seconds, and what is watched here is the traffic, not the estimator (it stays
    # under the production floor on a week of day-old features, so the floor is lowered for it).
    settings = load_settings(
        model_name=f"fraud_monitor_{uuid.uuid4().hex[:8]}",
        training_min_rows=1000,
        training_estimator="logistic_regression",
        gate_min_pr_auc=0.02,
    )
    lineage = Lineage(
        request_key="monitor-test",
        feature_service=settings.feature_service,
        window_start=TRAIN_START.isoformat(),
        window_end=(TRAIN_START + dt.timedelta(days=7)).isoformat(),
        data_digest="sha256:test",
        validation="test frame: generator output, no validation run",
        git_commit="test",
    )
    outcome = flow.run_all(fraud_frame(TRAIN_START, 7), lineage, FRAUD, settings)
    assert outcome.decision.promote, outcome.decision.summary
    return settings, models.load(settings.model_name, outcome.version)


def test_one_night_each_way_through_airflow(champion, tmp_path: Path) -> None:
    settings, loaded = champion
    tag = settings.model_name
    for day, scenario in ((CLEAN, "baseline"), (DRIFTED, "amount_inflation"), (DRIFTED_AGAIN, "amount_inflation")):
        log_predictions(night_traffic(day, scenario), loaded, tag)
    # The window whose labels have matured by the drifted night: quality is measured there.
    matured_day = DRIFTED - dt.timedelta(days=settings.training_label_delay_days)
    matured = night_traffic(matured_day)
    log_predictions(matured, loaded, tag)
    assert report_chargebacks(matured, tag, dt.timedelta(days=5)) > 10

    env = migrated_airflow_env(
        tmp_path, DAG_FILE.parent, GYRE_MODEL_NAME=settings.model_name, GYRE_TRAINING_MIN_ROWS="1000"
    )
    nights = [d.isoformat() for d in (CLEAN, DRIFTED, DRIFTED_AGAIN)]
    script = _RUN.format(dag_file=str(DAG_FILE), nights=nights)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, result.stdout[-3000:] + result.stderr[-5000:]
    outcome = json.loads(line.removeprefix("RESULT "))
    runs = outcome["runs"]
    logs = result.stdout + result.stderr

    clean, drifted, again = (runs[n] for n in nights)
    assert clean["interval"][0].startswith(CLEAN.isoformat()) and clean["interval"][1].startswith("2026-03-20")
    for run in runs.values():
        assert run["state"].endswith("success"), logs[-5000:]
    assert clean["tasks"]["no_action"].endswith("success") and clean["tasks"]["retrain"].endswith("skipped")
    assert drifted["tasks"]["retrain"].endswith("success") and drifted["tasks"]["no_action"].endswith("skipped")
    assert again["tasks"]["no_action"].endswith("success") and again["tasks"]["retrain"].endswith("skipped")

    requests = [e for e in outcome["events"] if e["asset"] == "retrain_request"]
    assert len(requests) == 1
    extra = requests[0]["extra"]
    assert extra["night"] == DRIFTED.isoformat() and extra["model_version"] == loaded.version
    assert any("amount" in reason for reason in extra["reasons"])
    assert "[drift]" in logs and "[retrain]" in logs and "[no_action]" in logs

    with engine().connect() as connection:
        reports = connection.exec_driver_sql(
            "select interval_start::date as night, drifted_features, prediction_psi, roc_auc, html_path,"
            " mlflow_run_id from drift_reports where model_version = %(v)s order by interval_start",
            {"v": loaded.version},
        ).all()
        decisions = {
            row.night: row
            for row in connection.exec_driver_sql(
                "select interval_start::date as night, retrain, reasons, blocked_by, status from retrain_decisions"
                " where interval_start::date = any(%(nights)s)",
                {"nights": [CLEAN, DRIFTED, DRIFTED_AGAIN]},
            ).all()
        }
        amount_psi = connection.exec_driver_sql(
            "select psi from feature_drift where model_version = %(v)s and feature = 'txn_amount'"
            " and interval_start::date = %(night)s",
            {"v": loaded.version, "night": DRIFTED},
        ).scalar_one()
    assert [r.night for r in reports] == [CLEAN, DRIFTED, DRIFTED_AGAIN]
    by_night = {r.night: r for r in reports}
    assert "txn_amount" not in by_night[CLEAN].drifted_features and "txn_amount" in by_night[DRIFTED].drifted_features
    assert amount_psi is not None and amount_psi >= 0  # PSI per feature kept as a time series
    assert by_night[DRIFTED].roc_auc is not None and by_night[DRIFTED].roc_auc > 0.6  # matured labels judged
    html = Path(by_night[DRIFTED].html_path)
    assert html.is_file() and html.stat().st_size > 10_000 and html.is_relative_to(settings.home / "reports")
    assert by_night[DRIFTED].mlflow_run_id

    assert decisions[CLEAN].retrain is False and decisions[CLEAN].reasons == []
    assert decisions[DRIFTED].retrain is True and decisions[DRIFTED].status == "requested"
    assert decisions[DRIFTED_AGAIN].retrain is False
    assert decisions[DRIFTED_AGAIN].reasons and "a retrain is already in flight" in decisions[DRIFTED_AGAIN].blocked_by
