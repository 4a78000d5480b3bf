"""Shared by the DAG tests that run one DAG in a child process: a private Airflow home and migrated database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def migrated_airflow_env(tmp_path: Path, dags_folder: Path, **settings: str) -> dict[str, str]:
    """This process's environment plus ``settings``, with an Airflow home and SQLite database under ``tmp_path``
    (migrated here), so a `dag.test()` in a child process touches nothing of the session's."""
    env = {
        **os.environ,
        **settings,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return env
