"""Pointing Gyre at external Postgres and Redis uses them and starts nothing of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import isolated_env

pytestmark = pytest.mark.integration

GYRE = str(Path(sys.executable).parent / "gyre")


def test_external_servers_are_used_and_nothing_is_started(database_url: str, redis_url: str, tmp_path: Path) -> None:
    external_pg = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    env = {**os.environ, **isolated_env(tmp_path), "GYRE_DATABASE_URL": external_pg, "GYRE_REDIS_URL": redis_url}

    def gyre(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GYRE, *args], env=env, capture_output=True, text=True, timeout=300, check=False)

    up = gyre("up", "--detach", "--only", "postgres", "--only", "redis")
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((tmp_path / "run" / "state.json").read_text())
        assert [(r["name"], r["external"], r["pids"]) for r in state["services"]] == [
            ("postgres", True, []),
            ("redis", True, []),
        ]
        assert not (tmp_path / "postgres").exists() and not (tmp_path / "redis").exists()
        status = gyre("status")
        assert status.returncode == 0, status.stderr
        password = external_pg.split(":")[2].split("@")[0]
        assert password not in status.stderr
        assert f"postgresql://gyre@127.0.0.1:{os.environ['GYRE_POSTGRES_PORT']}/gyre" in status.stderr.replace("\n", "")
    finally:
        assert gyre("down").returncode == 0
