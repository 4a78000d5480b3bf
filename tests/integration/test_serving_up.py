"""The endpoint as `gyre up` runs it, before any model is promoted: up and healthy, not ready, and saying why."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from gyre.config import get_settings
from gyre.services.credentials import load_or_create
from tests.integration.serving_support import served, serving_env, transactions

pytestmark = pytest.mark.integration


def test_serving_starts_without_a_champion_and_explains_503(mlflow_tracking_uri: str, redis_url: str) -> None:
    name = f"fraud_unpromoted_{uuid.uuid4().hex[:8]}"
    with serving_env(GYRE_MODEL_NAME=name):
        settings = get_settings()
        with served(settings) as url:
            assert url == f"http://127.0.0.1:{settings.serving_port}"

            def explained() -> httpx.Response:
                return httpx.get(f"{url}/readyz", timeout=5)

            ready = explained()
            for _ in range(100):  # the first registry check runs in the background
                if "has no 'champion' alias" in " ".join(ready.json()["reasons"]):
                    break
                time.sleep(0.2)
                ready = explained()
            assert ready.status_code == 503
            assert any(f"{name!r} has no 'champion' alias" in r for r in ready.json()["reasons"]), ready.json()
            key = load_or_create(settings.home)[0].serving_api_key
            score = httpx.post(f"{url}/score", json={"transaction": transactions(1)[0]}, headers={"X-API-Key": key})
            assert score.status_code == 503 and "no champion model" in score.json()["error"]
            assert score.headers["Retry-After"] == "5"
