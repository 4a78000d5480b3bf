"""Airflow 3 as four supervised processes (api-server, scheduler, dag-processor, triggerer) on LocalExecutor.

Configuration is passed as ``AIRFLOW__*`` environment variables built from Gyre's settings, so no
airflow.cfg needs editing; the admin password is generated (never ``admin``/``admin``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.endpoints import (
    AIRFLOW_DATABASE,
    airflow_url,
    database_url,
    libpq_url,
    mlflow_client_env,
    mlflow_url,
    redis_url,
)
from gyre.services.process import ManagedProcess, ServiceError, open_log

ADMIN_USER = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Airflow's log servers (scheduler's for LocalExecutor tasks, triggerer's) bind every interface, with no
# setting for the host. Every process here writes its task logs into the one local log folder the api-server
# reads, so they are not started at all.
SKIP_SERVE_LOGS = {"scheduler", "triggerer"}
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def _cli() -> str:
    return str(Path(sys.executable).parent / "airflow")


def airflow_env(settings: Settings, creds: Credentials) -> dict[str, str]:
    """The environment every Airflow process (and every task it runs) starts with."""
    home = settings.home / "airflow"
    url = airflow_url(settings)
    celery = settings.airflow_executor == "celery"
    env = {
        "AIRFLOW_HOME": str(home),
        "GYRE_HOME": str(settings.home),
        # Tasks load and register models through MLflow's fluent API too: point it at the platform's server,
        # with its login (the server refuses anonymous calls).
        "MLFLOW_TRACKING_URI": mlflow_url(settings),
        **mlflow_client_env(settings),
        # A task log says what the task did: no progress bars for artifact downloads (MLflow logs them at
        # ERROR), and no deprecation warnings from the libraries (ours are fixed where they arise).
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning",
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.project_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.project_root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if celery else "LocalExecutor",
        # Airflow's default parallelism of 32 pre-forks 32 workers (~5 GB); size it for the machine.
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__FERNET_KEY": creds.airflow_fernet_key,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(settings, AIRFLOW_DATABASE),
        # psycopg 3 speaks asyncio too, so Airflow's async engine needs no second driver (asyncpg).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database_url(settings, AIRFLOW_DATABASE),
        # Stored compressed, serialized DAGs are read without Postgres' JSON path operator, whose path Airflow
        # binds as a varchar: under psycopg 3 (typed parameters) the Assets graph and DAG dependencies gave 500.
        "AIRFLOW__CORE__COMPRESS_SERIALIZED_DAGS": "True",
        "AIRFLOW__API__HOST": settings.bind_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": creds.airflow_api_secret,
        "AIRFLOW__API_AUTH__JWT_SECRET": creds.airflow_api_secret,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.logs_dir / "airflow"),
        # Task logs are the owner's only, like every other log under the logs folder.
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_trigger_log_port),
    }
    if celery:
        # Airflow's own distributed engine: Redis (database 1) brokers, Postgres keeps task results.
        env |= {
            "AIRFLOW__CELERY__BROKER_URL": redis_url(settings, db=1),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url(settings, AIRFLOW_DATABASE),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.celery_worker_concurrency),
        }
    return env


class EmbeddedAirflow:
    name = "airflow"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.creds = creds
        self.url = airflow_url(settings)
        self.env = airflow_env(settings, creds)

    def prepare(self) -> None:
        home = Path(self.env["AIRFLOW_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({ADMIN_USER: self.creds.airflow_admin_password}, handle)
        self._migrate()

    def _revision(self) -> str | None:
        import psycopg

        from gyre.db import sql_text

        with psycopg.connect(libpq_url(self.settings, AIRFLOW_DATABASE)) as connection:
            return connection.execute(sql_text("services/airflow_schema_revision.sql")).fetchone()[0]

    def _migrate(self) -> None:
        """Bring the metadata database to this Airflow's schema (idempotent; needs Postgres up).

        `airflow db migrate` costs ~8 s of CPU even with nothing to do, so it is skipped when this Airflow
        version already migrated the database and the database is still at the revision it left.
        """
        stamp = Path(self.env["AIRFLOW_HOME"]) / "migrated.stamp"
        version = importlib.metadata.version("apache-airflow")
        if stamp.exists() and stamp.read_text() == f"{version} {self._revision()}":
            return
        log = self.settings.logs_dir / "airflow-db-migrate.log"
        with open_log(log) as out:
            result = subprocess.run(
                [_cli(), "db", "migrate"],
                check=False,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:
            raise ServiceError(f"airflow db migrate failed (code {result.returncode}); see {log}")
        stamp.write_text(f"{version} {self._revision()}")

    def processes(self) -> list[ManagedProcess]:
        logs = self.settings.logs_dir
        processes = [
            ManagedProcess(
                f"airflow {component}",
                [_cli(), component, *(["--skip-serve-logs"] if component in SKIP_SERVE_LOGS else [])],
                logs / f"airflow-{component}.log",
                env=self.env,
            )
            for component in COMPONENTS
        ]
        if self.settings.airflow_executor == "celery":
            # Task logs land in the shared local log folder, so workers need not serve them over HTTP either
            # (and two workers on one host would fight over the log-server port).
            processes += [
                ManagedProcess(
                    f"airflow celery worker{n}",
                    [_cli(), "celery", "worker", "--celery-hostname", f"worker{n}@%h", "--skip-serve-logs"],
                    logs / f"airflow-celery-worker{n}.log",
                    env=self.env,
                    restart_on_exit=True,
                )
                for n in range(1, self.settings.celery_workers + 1)
            ]
        return processes

    def celery_workers_answering(self) -> int:
        """How many Celery workers reply to a broadcast ping (0 when not on Celery)."""
        from celery import Celery

        app = Celery(broker=self.env["AIRFLOW__CELERY__BROKER_URL"])
        try:
            return len(app.control.ping(timeout=1.0) or [])
        finally:
            app.close()

    def health(self) -> dict[str, str]:
        # Its one API worker answers the first requests after a start slowly on two cores (plugins load, the UI's
        # first pages): a 3 s probe could call a healthy Airflow unhealthy in `gyre status`.
        response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=10)
        response.raise_for_status()
        body = response.json()
        return {key: (body.get(key) or {}).get("status", "unknown") for key in HEALTH_KEYS}

    def ready(self) -> bool:
        if not all(status == "healthy" for status in self.health().values()):
            return False
        if self.settings.airflow_executor == "celery":
            return self.celery_workers_answering() >= self.settings.celery_workers
        return True

    def bootstrap(self) -> None:
        """Nothing beyond the migration done in ``prepare``."""
