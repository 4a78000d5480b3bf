"""The `train_model` DAG under `dag.test()`: a window without data (a fresh home's first tick) skips at
`training_set` with its reason, not a red failure, and registers nothing (the later steps are skipped too)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gyre.db import apply_schema
from tests.integration.airflow_support import migrated_airflow_env

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "train_model.py"

_RUN = """
import json, runpy
dag = runpy.run_path({dag_file!r})["dag"]
run = dag.test(run_conf={{"request_id": "empty-window"}})
states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
print("RESULT", json.dumps({{"state": str(run.state), "tasks": states}}))
"""


def test_an_empty_window_skips_with_its_reason_and_registers_nothing(
    database_url: str, mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    apply_schema(("ingest/schema.sql",))  # the ingest tables exist, the window holds no rows
    name = f"fraud_dag_{uuid.uuid4().hex[:8]}"
    env = migrated_airflow_env(tmp_path, DAG_FILE.parent, GYRE_MODEL_NAME=name)
    script = _RUN.format(dag_file=str(DAG_FILE))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["state"].endswith("success"), outcome
    assert outcome["tasks"]["plan"].endswith("success")
    assert outcome["tasks"]["training_set"].endswith("skipped")
    assert all(outcome["tasks"][t].endswith("skipped") for t in ("train", "register", "gate", "promote", "reject"))
    logs = result.stdout + result.stderr
    assert "training window holds 0 rows; nothing to train" in logs
    assert MlflowClient(mlflow_tracking_uri).search_model_versions(f"name = '{name}'") == []
