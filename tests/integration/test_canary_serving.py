"""A canary rollout against a real `bentoml serve` process, the MLflow registry and Postgres, seen through HTTP.

test_canary drives the serving ``Runtime`` in this process; here the endpoint runs as `gyre up` runs it and follows
the rollout by its own registry poll while clients score without pause: the canary arrives on its first step, a
hash of the customer picks the arm, the prediction log says which, and the rollout's check (what the
``canary_rollout`` DAG's task calls) widens, completes, or rolls back a canary that does not load, with no
request failing at any switch.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from gyre.config import Settings, get_settings
from gyre.demo import wait_for
from gyre.registry import audit, models
from gyre.rollout import canary
from gyre.services.credentials import load_or_create
from gyre.services.process import free_port
from gyre.serving.model import BUCKETS, bucket
from tests.integration import serving_support as support

pytestmark = pytest.mark.integration

CLIENTS = 2
SWITCH_S = 60  # longest wait for the process to follow a registry change it polls every 0.3 s


@pytest.fixture(scope="module")
def endpoint(mlflow_tracking_uri: str, database_url: str, redis_url: str) -> Iterator[SimpleNamespace]:
    """v1 champion, v2 a good candidate (also challenger), v3 a broken export, served by one process in canary mode."""
    from gyre.features.materialize import apply_if_changed

    apply_if_changed()
    env = {
        "GYRE_MODEL_NAME": f"fraud_canary_served_{uuid.uuid4().hex[:8]}",
        "GYRE_SERVING_PORT": str(free_port()),
        "GYRE_SERVING_WORKERS": "1",  # /readyz then reports the state every request is routed by
        "GYRE_SERVING_POLL_INTERVAL_S": "0.3",
        "GYRE_SERVING_RATE_LIMIT": "1000000",
        "GYRE_TRAINING_MIN_ROWS": "500",
        "GYRE_TRAINING_ESTIMATOR": "logistic_regression",
        "GYRE_ROLLOUT_MODE": "canary",
        "GYRE_CANARY_STEPS": "25,50,100",
        "GYRE_CANARY_HOLD_MINUTES": "0.001",
        "GYRE_CANARY_MIN_REQUESTS": "100",
        # v2 is v1's run registered again: the arms' latencies, scores and ROC-AUC differ only by which customers
        # and which moments of a loaded machine each got. That noise must not decide here (test_canary checks
        # those rules); the error rate and the ONNX load do.
        "GYRE_CANARY_LATENCY_SLACK_MS": "60000",
        "GYRE_CANARY_MAX_SCORE_PSI": "100",
        "GYRE_CANARY_MAX_ROC_AUC_DROP": "1",
    }
    with support.serving_env(**env), ThreadPoolExecutor(1) as pool:
        settings = get_settings()
        # The process starts (some 20 s, mostly imports) while the versions are trained and registered: it waits
        # for a champion by its own registry poll, as under `gyre up`.
        registering = pool.submit(register, settings)
        with support.served(settings) as url:
            champion, candidate, broken = registering.result()
            readyz(url, lambda ready: ready["champion"] == champion)
            yield SimpleNamespace(
                settings=settings,
                url=url,
                key=load_or_create(settings.home)[0].serving_api_key,
                v1=champion,
                v2=candidate,
                broken=broken,
                bodies=support.transactions(1000),
            )


def register(settings: Settings) -> tuple[str, str, str]:
    """v1 promoted to champion, v2 a good candidate, v3 a broken export of v2."""
    champion, candidate = support.register_versions(settings, 2)
    support.promote(settings, champion)
    return champion, candidate, support.register_broken(settings, candidate)


def readyz(url: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """/readyz's body once it is ready and ``until`` holds for it (the registry poll has run)."""

    def probe() -> dict[str, Any] | None:
        ready = httpx.get(f"{url}/readyz", timeout=30).json()
        return ready if ready["ready"] and until(ready) else None

    return wait_for("the serving process's state", probe, timeout_s=SWITCH_S, every_s=0.1)


class Traffic:
    """What the clients were answered (versions, in order) and every request that did not get a 200."""

    def __init__(self) -> None:
        self.answered: list[str] = []
        self.failures: list[str] = []

    def crossing(self) -> int:
        """How many answers there are now; returns once 20 more have come, so this moment is crossed under load."""
        mark = len(self.answered)
        wait_for("answers to the clients", lambda: len(self.answered) >= mark + 20 or None, timeout_s=30, every_s=0.05)
        return mark


@contextmanager
def traffic(endpoint: SimpleNamespace) -> Iterator[Traffic]:
    """``CLIENTS`` clients scoring one transaction per request without pause while the block runs; any request
    that does not get a 200 fails the test."""
    seen, stop = Traffic(), threading.Event()

    def client(offset: int) -> None:
        with httpx.Client(base_url=endpoint.url, headers={"X-API-Key": endpoint.key}, timeout=30) as http:
            i = offset
            while not stop.is_set():
                try:
                    response = http.post("/score", json={"transaction": endpoint.bodies[i % len(endpoint.bodies)]})
                    if response.status_code != 200:
                        raise RuntimeError(f"{response.status_code} {response.text[:200]}")
                    seen.answered.append(response.json()["model_version"])
                except Exception as error:  # noqa: BLE001 - every failure is counted
                    seen.failures.append(repr(error))
                i += 1

    threads = [threading.Thread(target=client, args=(n * 500,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert seen.failures == [], seen.failures[:5]


def score_all(endpoint: SimpleNamespace) -> list[dict[str, Any]]:
    """Every transaction once, in batches of 500 (each batch one request)."""
    results = []
    for i in range(0, len(endpoint.bodies), 500):
        response = httpx.post(
            f"{endpoint.url}/score_batch",
            json={"transactions": endpoint.bodies[i : i + 500]},
            headers={"X-API-Key": endpoint.key},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:500]
        results += response.json()
    return results


def logged(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The prediction_log answer rows of ``results`` by request id, once the serving process has written them all."""
    import sqlalchemy as sa

    from gyre.db import engine

    ids = [r["request_id"] for r in results]

    def written() -> dict[str, Any] | None:
        with engine().connect() as connection:
            rows = connection.execute(
                sa.text(
                    "select request_id::text as id, arm, model_version, error from prediction_log"
                    " where role = 'champion' and request_id::text = any(:ids)"
                ),
                {"ids": ids},
            ).all()
        return {r.id: r for r in rows} if len(rows) == len(ids) else None

    return wait_for("the prediction log rows", written, timeout_s=30, every_s=0.2)


def served_versions(endpoint: SimpleNamespace) -> set[tuple[str, str]]:
    """The (role, version) pairs /metrics reports as served (``gyre_model_info`` 1)."""
    metrics = httpx.get(f"{endpoint.url}/metrics", timeout=30).text
    return set(re.findall(r'^gyre_model_info\{role="(\w+)",version="(\w+)"\} 1\.0$', metrics, re.MULTILINE))


def arms(endpoint: SimpleNamespace, results: list[dict[str, Any]]) -> dict[str, str]:
    """The version that answered each customer, asserting it was the same for every one of their transactions."""
    seen: dict[str, set[str]] = {}
    for body, result in zip(endpoint.bodies, results, strict=True):
        seen.setdefault(body["customer_id"], set()).add(result["model_version"])
    assert all(len(versions) == 1 for versions in seen.values()), "a customer was answered by two models"
    return {customer: versions.pop() for customer, versions in seen.items()}


def test_the_served_canary_is_routed_by_customer_widened_and_completed_without_a_failed_request(endpoint) -> None:
    name, v1, v2 = endpoint.settings.model_name, endpoint.v1, endpoint.v2

    def on_canary(percent: float) -> set[str]:
        customers = {body["customer_id"] for body in endpoint.bodies}
        return {c for c in customers if bucket(name, v2, c) < percent * BUCKETS / 100}

    with traffic(endpoint) as load:
        before = load.crossing() + 20  # answered before the canary exists
        canary.start(v2, "served canary test", {})
        readyz(endpoint.url, lambda ready: ready["canary"] == {"version": v2, "percent": 25.0})
        assert served_versions(endpoint) == {("champion", v1), ("challenger", v2), ("canary", v2)}
        load.crossing()
        first = score_all(endpoint)
        quarter = arms(endpoint, first)
        assert {c for c, version in quarter.items() if version == v2} == on_canary(25)
        assert 0.15 < len(on_canary(25)) / len(quarter) < 0.35
        rows = logged(first)
        assert {(rows[r["request_id"]].arm, r["model_version"]) for r in first} == {("canary", v2), ("champion", v1)}
        assert all(row.error is None for row in rows.values())

        verdict = canary.check()
        assert (verdict.action, verdict.percent, verdict.next_percent) == ("widen", 25.0, 50.0), verdict
        assert verdict.metrics["canary_error_rate"] == 0
        canary.apply(verdict)
        readyz(endpoint.url, lambda ready: ready["canary"] == {"version": v2, "percent": 50.0})
        load.crossing()
        second = score_all(endpoint)
        half = arms(endpoint, second)
        assert {c for c, version in half.items() if version == v2} == on_canary(50)
        assert on_canary(50) > on_canary(25), "widening must only add customers"
        logged(second)

        verdict = canary.check()
        assert (verdict.action, verdict.percent, verdict.next_percent) == ("complete", 50.0, 100.0), verdict
        canary.apply(verdict)
        readyz(endpoint.url, lambda ready: ready["champion"] == v2 and ready["canary"] is None)
        switched = load.crossing()
        assert {r["model_version"] for r in score_all(endpoint)} == {v2}
        # Canary ended, challenger retired by the promotion (v2 was both): only the champion is served.
        assert served_versions(endpoint) == {("champion", v2)}
    assert set(load.answered[:before]) == {v1}
    # Once the process reports v2, only requests already in flight (one per client) may still be v1's.
    assert sum(version != v2 for version in load.answered[switched:]) <= CLIENTS
    assert (models.version_of(name, models.CHAMPION), models.version_of(name, models.PREVIOUS)) == (v2, v1)
    assert models.version_of(name, canary.CANARY) is None


def test_a_served_canary_that_does_not_load_is_rolled_back_by_one_check_while_the_champion_answers(endpoint) -> None:
    name = endpoint.settings.model_name
    champion = models.version_of(name, models.CHAMPION)
    with traffic(endpoint) as load:
        canary.start(endpoint.broken, "served canary test", {})
        ready = readyz(endpoint.url, lambda ready: "canary:" in (ready["registry_error"] or ""))
        assert ready["canary"] is None and ready["champion"] == champion
        load.crossing()
        assert {r["model_version"] for r in score_all(endpoint)} == {champion}

        verdict = canary.check()
        assert verdict.action == "roll_back" and "does not load" in verdict.summary, verdict
        canary.apply(verdict)
        readyz(endpoint.url, lambda ready: ready["registry_error"] is None and ready["canary"] is None)
        load.crossing()
    assert set(load.answered) == {champion}
    assert models.version_of(name, canary.CANARY) is None and models.version_of(name, models.CHAMPION) == champion
    last = audit.history(name)[0]
    assert (last.action, last.from_version, last.to_version) == ("rollback", endpoint.broken, None)
