"""The closed loop through Airflow itself: `gyre demo` on a fresh platform backfills, trains and serves a
champion, lands drifted traffic, and the nightly check retrains, gates, promotes and swaps the endpoint
with nobody touching anything after the drift lands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import private_stack_env
from tests.e2e.test_platform_up import gyre, secret

pytestmark = [pytest.mark.stack, pytest.mark.demo]


@pytest.fixture(scope="module")
def demo_env() -> Iterator[dict[str, str]]:
    env = private_stack_env(  # the sizes of `make demo`: 2 x 14 + 7 + 1 = 36 days of traffic through Airflow
        "gyre-demo-",
        GYRE_TRAINING_WINDOW_DAYS="14",
        GYRE_TRAINING_LABEL_DELAY_DAYS="7",
        GYRE_SERVING_POLL_INTERVAL_S="2",
    )
    up = gyre(env, "up", "--detach")
    assert up.returncode == 0, up.stderr
    yield env
    gyre(env, "down")


def alias(env: dict[str, str], name: str) -> str | None:
    response = httpx.get(
        f"http://127.0.0.1:{env['GYRE_MLFLOW_PORT']}/api/2.0/mlflow/registered-models/alias",
        params={"name": "fraud_detector", "alias": name},
        auth=("admin", secret(Path(env["GYRE_HOME"]), "MLFLOW_ADMIN_PASSWORD")),
    )
    return response.json()["model_version"]["version"] if response.status_code == 200 else None


def test_demo_retrains_on_drift_promotes_and_the_endpoint_serves_the_new_champion(demo_env) -> None:
    result = gyre(demo_env, "demo", timeout=2400)
    print(result.stderr)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "retrain" in result.stderr and "Gyre demo: the loop turned" in result.stderr

    champion, previous = alias(demo_env, "champion"), alias(demo_env, "previous-champion")
    assert champion and previous and int(champion) > int(previous), (champion, previous)

    from gyre.data import source
    from gyre.demo import transaction_body

    body = {"transaction": transaction_body(next(source.transactions(42, dt.date(2026, 4, 1)).itertuples()))}
    key = secret(Path(demo_env["GYRE_HOME"]), "SERVING_API_KEY")
    scored = httpx.post(
        f"http://127.0.0.1:{demo_env['GYRE_SERVING_PORT']}/score", json=body, headers={"X-API-Key": key}, timeout=30
    )
    assert scored.status_code == 200, scored.text
    assert scored.json()["model_version"] == champion
