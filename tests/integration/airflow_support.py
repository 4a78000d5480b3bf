"""Shared by the DAG tests that run one DAG in a child process: a private Airflow home and migrated database."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _airflow_settings(home: Path, database: Path) -> dict[str, str]:
    """An Airflow home under ``home`` on the SQLite ``database``, without the example DAGs."""
    return {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


@functools.cache
def _migrated_database() -> Path:
    """An Airflow SQLite database migrated once for the session: each test copies it (a migration takes 10-20 s)."""
    home = Path(tempfile.mkdtemp(prefix="airflow-db-", dir=os.environ["GYRE_HOME"]))  # removed with the session
    database = home / "airflow.db"
    env = {**os.environ, **_airflow_settings(home, database)}
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return database


def migrated_airflow_env(tmp_path: Path, dags_folder: Path, **settings: str) -> dict[str, str]:
    """This process's environment plus ``settings``, with an Airflow home and a migrated SQLite database under
    ``tmp_path``, so a `dag.test()` in a child process touches nothing of the session's."""
    database = Path(shutil.copyfile(_migrated_database(), tmp_path / "airflow.db"))
    return {
        **os.environ,
        **settings,
        **_airflow_settings(tmp_path, database),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
    }
