"""The MLflow tracking server: runs and the model registry in Postgres, artifacts under ``<home>/mlflow``.

One worker: uvicorn's multi-worker mode loses TCP_NODELAY here and adds ~40 ms to keep-alive requests.
It runs MLflow's basic-auth app, so nobody on the host moves ``@champion`` (which serving follows) without
the generated admin login; every client in Gyre authenticates through ``endpoints.mlflow_client_env``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.endpoints import MLFLOW_ADMIN_USER, MLFLOW_DATABASE, database_url, mlflow_url
from gyre.services.process import ManagedProcess

AUTH_CONFIG = Path(__file__).with_name("mlflow_auth.ini")


class EmbeddedMlflow:
    name = "mlflow"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.creds = creds
        self.url = mlflow_url(settings)
        self.home = settings.home / "mlflow"
        self.artifacts = self.home / "artifacts"

    def prepare(self) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def processes(self) -> list[ManagedProcess]:
        argv = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--artifacts-destination",
            self.artifacts.as_uri(),
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.settings.mlflow_port),
            "--workers",
            "1",
            "--app-name",
            "basic-auth",
        ]
        # The store URI carries the database password: pass it by environment, not argv (visible in `ps`).
        env = {
            "MLFLOW_BACKEND_STORE_URI": database_url(self.settings, MLFLOW_DATABASE),
            # The server's background job runner (GenAI scorers) forks ~10 huey workers, 2.5 GB: unused here.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_AUTH_CONFIG_PATH": str(AUTH_CONFIG),
            "MLFLOW_AUTH_ADMIN_USERNAME": MLFLOW_ADMIN_USER,
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.creds.mlflow_admin_password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.creds.mlflow_secret_key,
        }
        # The ini's SQLite user store is relative: the working directory puts it at <home>/mlflow/mlflow-auth.db.
        return [ManagedProcess("mlflow", argv, self.settings.logs_dir / "mlflow.log", env=env, cwd=self.home)]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/health", timeout=3).status_code == 200

    def bootstrap(self) -> None:
        """MLflow creates its schema itself at server start."""
