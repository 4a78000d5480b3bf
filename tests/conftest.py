"""Test-wide fixtures: a private Gyre home with free ports, and the real embedded Postgres and Redis.

The environment is set in ``pytest_configure`` so that every ``get_settings()`` in the session, including
ones made at import time by code under test, resolves to the test stack and never to a developer's own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyre.services.process import free_port

_TEST_HOME: Path | None = None
CHROMIUM = "/usr/bin/chromium"
# Headless, and quiet: without the background-networking flags Chromium calls out to Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def isolated_env(home: Path) -> dict[str, str]:
    """GYRE_* variables that give a private home and free ports, for this session or a child stack."""
    ports = (
        "POSTGRES",
        "REDIS",
        "MLFLOW",
        "AIRFLOW",
        "AIRFLOW_WORKER_LOG",
        "AIRFLOW_TRIGGER_LOG",
        "FEAST",
        "SERVING",
        "STREAM_METRICS",
    )
    return {"GYRE_HOME": str(home), **{f"GYRE_{name}_PORT": str(free_port()) for name in ports}}


def private_stack_env(prefix: str, **settings: str) -> dict[str, str]:
    """The environment of a private stack started with `gyre up`: a fresh home, free ports, ``settings``, and
    none of this session's own Airflow variables (the stack configures its Airflow itself)."""
    env = {**os.environ, **isolated_env(Path(tempfile.mkdtemp(prefix=prefix))), **settings}
    for inherited in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__UNIT_TEST_MODE"):
        env.pop(inherited, None)
    return env


def pytest_configure(config: pytest.Config) -> None:
    global _TEST_HOME
    _TEST_HOME = Path(tempfile.mkdtemp(prefix="gyre-test-"))
    os.environ.update(isolated_env(_TEST_HOME))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Airflow reads its home at import: point it at the private one, with this project's DAGs.
    root = Path(__file__).resolve().parents[1]
    os.environ.update(
        {
            "AIRFLOW_HOME": str(_TEST_HOME / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        }
    )
    from gyre.config import get_settings

    get_settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _TEST_HOME is not None:
        shutil.rmtree(_TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def data_services() -> Iterator[None]:
    """The embedded Postgres (with pgvector), Redis and MLflow server, started once for the session."""
    from gyre.config import get_settings
    from gyre.services.supervisor import Supervisor

    supervisor = Supervisor(get_settings(), only=("postgres", "redis", "mlflow"), report=lambda _: None)
    supervisor.up()
    try:
        yield
    finally:
        supervisor.down()


@pytest.fixture(scope="session")
def database_url(data_services: None) -> str:
    """SQLAlchemy URL (postgresql+psycopg) of Gyre's app database, with the ``vector`` extension."""
    from gyre.services.endpoints import database_url as resolve

    return resolve()


@pytest.fixture(scope="session")
def redis_url(data_services: None) -> str:
    """URL of the password-protected Redis."""
    from gyre.services.endpoints import redis_url as resolve

    return resolve()


@pytest.fixture(scope="session")
def mlflow_tracking_uri(data_services: None) -> str:
    """URL of a real MLflow tracking server (Postgres backend, local artifacts, basic auth); from here on this
    process's MLflow clients carry its generated login."""
    from gyre.training.tracking import tracking_uri

    return tracking_uri()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download), for one test module."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` (as root) installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
