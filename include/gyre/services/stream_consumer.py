"""The stream consumer (``python -m gyre.streaming``) under ``gyre up``: intraday features into Redis via Feast,
and each event scored by the champion.

Healthy once its /metrics port answers on ``bind_host:GYRE_STREAM_METRICS_PORT``; that port opens before
Feast is imported, so the consumer does not lengthen `gyre up`. It needs the Feast registry to hold its push
sources, which the feature server's start applies; until then its batches fail, stay pending, and are retried.
"""

from __future__ import annotations

import sys

import httpx

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.endpoints import mlflow_client_env
from gyre.services.process import ManagedProcess


class EmbeddedStreamConsumer:
    name = "stream"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.url = f"http://{settings.bind_host}:{settings.stream_metrics_port}/metrics"

    def prepare(self) -> None:
        """Nothing to prepare: the consumer group is created by the consumer itself."""

    def processes(self) -> list[ManagedProcess]:
        argv = [sys.executable, "-m", "gyre.streaming"]
        # It scores with the champion, which it follows in the registry like the endpoint: the MLflow login.
        env = mlflow_client_env(self.settings)
        return [ManagedProcess("stream", argv, self.settings.logs_dir / "stream.log", env=env)]

    def ready(self) -> bool:
        return httpx.get(self.url, timeout=3).status_code == 200

    def bootstrap(self) -> None:
        """The stream and its group exist once the consumer runs; events arrive by `gyre data replay`."""
