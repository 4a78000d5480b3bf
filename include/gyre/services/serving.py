"""The scoring endpoint (BentoML ``fraud_scorer``) under ``gyre up``, on ``bind_host:serving_port``.

It is healthy as soon as the process answers /healthz: with no champion in the registry yet it stays up and
says why on /readyz (and 503 on /score) until one is promoted, so a fresh stack still comes up. It follows the
``champion`` alias by itself; nothing here restarts it on a deploy.
"""

from __future__ import annotations

import sys

import httpx

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.endpoints import mlflow_client_env
from gyre.services.process import ManagedProcess


def serving_url(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{settings.serving_port}"


class EmbeddedServing:
    name = "serving"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.url = serving_url(settings)
        self.bento = settings.project_root / "bentos" / "fraud_scorer"
        self.home = settings.home / "bentoml"

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    def processes(self) -> list[ManagedProcess]:
        # BentoML's CLI, with its circus controller on a private Unix socket instead of a TCP port.
        argv = [
            sys.executable,
            "-m",
            "gyre.services.bento_serve",
            "serve",
            "service:FraudScorer",
            "--working-dir",
            str(self.bento),
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.settings.serving_port),
        ]
        # Bentos and BentoML's state stay inside Gyre's home; the service reads GYRE_* settings itself. It
        # follows the registry's aliases, so it carries the MLflow login.
        env = {"BENTOML_HOME": str(self.home), "BENTOML_DO_NOT_TRACK": "true", **mlflow_client_env(self.settings)}
        return [ManagedProcess("serving", argv, self.settings.logs_dir / "serving.log", env=env)]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=3).status_code == 200

    def bootstrap(self) -> None:
        """The champion is loaded by the service itself, in the background (see /readyz)."""
