"""`dvc repro` rebuilds the offline data pipeline (generate -> validate -> snapshot) outside Airflow.

The project's own dvc.yaml runs in a scratch DVC repository that links the package sources, with a two-day
window in params.yaml, against the session's Postgres. A second `dvc repro` must find nothing to do, and the
recorded snapshot digest must be the one the platform computes for the same days.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gyre.ingest.snapshot import interval_digest
from tests.integration import ingest_support

pytestmark = pytest.mark.integration
conninfo = ingest_support.conninfo
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(BIN / "dvc"), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_repro_builds_the_snapshot_once_and_matches_the_platform_digest(conninfo: str, tmp_path: Path) -> None:
    repo = tmp_path / "pipeline"
    repo.mkdir()
    (repo / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["window"].update(start="2034-02-01", end="2034-02-02")
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    for source in ("include", "sql"):
        (repo / source).symlink_to(ROOT / source)
    dvc(repo, "init", "--no-scm", "-q")

    dvc(repo, "repro", "snapshot")
    report = json.loads((repo / "data" / "ingest_report.json").read_text())
    assert {(r["feed"], r["day"]) for r in report} == {
        (feed, day) for feed in ("transactions", "labels") for day in ("2034-02-01", "2034-02-02")
    }
    for entry in report:
        for file in entry["files"]:
            assert file["rows_in"] == file["rows_loaded"] + file["rows_quarantined"]
    snapshot = json.loads((repo / "data" / "snapshot" / "transactions.json").read_text())

    platform = interval_digest("transactions", dt.date(2034, 2, 1), dt.date(2034, 2, 2), conninfo)
    assert snapshot == platform and snapshot["rows"] > 4000
    assert (repo / "data" / "snapshot" / "transactions.parquet").stat().st_size > 0

    again = dvc(repo, "repro", "snapshot")
    assert "didn't change, skipping" in again.stdout and "Running stage" not in again.stdout, again.stdout
