"""The Feast feature server (``feast serve``): online features over HTTP, reading Redis, on ``bind_host``.

Before it starts, the feature definitions are applied to the registry if they changed, so the server never
comes up with an empty or outdated registry. One worker with ``--max-requests 0``: by default gunicorn
restarts the worker every ~1,000 requests, and those restarts put p99 latency near a second here.
"""

from __future__ import annotations

import httpx

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.process import ManagedProcess


def feature_server_url(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{settings.feast_port}"


class EmbeddedFeatureServer:
    name = "feast"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.url = feature_server_url(settings)
        self.home = settings.home / "feast"

    def prepare(self) -> None:
        from gyre.features.materialize import apply_if_changed

        self.home.mkdir(parents=True, exist_ok=True)
        apply_if_changed(self.settings)

    def processes(self) -> list[ManagedProcess]:
        from gyre.features.store import feast_command, feast_env

        argv = feast_command(
            "serve",
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.settings.feast_port),
            "--workers",
            "1",
            "--max-requests",
            "0",
            "--max-requests-jitter",
            "0",
            "--no-access-log",
            "--registry_ttl_sec",
            "60",
        )
        # The yaml's ${VAR}s carry the database and Redis passwords: by environment, never argv. gunicorn puts
        # its control socket under $HOME: a private one keeps two stacks on one machine from sharing it.
        env = {**feast_env(self.settings), "HOME": str(self.home)}
        return [ManagedProcess("feast", argv, self.settings.logs_dir / "feast.log", env=env)]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/health", timeout=3).status_code == 200

    def bootstrap(self) -> None:
        """Definitions were applied in prepare(); features arrive with the build_features DAG."""
