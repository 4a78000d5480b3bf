"""The scoring endpoint at three depths, on the real MLflow registry, Postgres and Redis.

1. the service class, called in-process; 2. its ASGI app (``to_asgi``) through a test client; 3. a real
``bentoml serve`` process on a free loopback port, called with ``bentoml.SyncHTTPClient`` and raw HTTP, fuzzed
with schemathesis, and watched while the ``champion`` alias moves under load.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from gyre.config import get_settings, load_settings
from gyre.services.credentials import load_or_create
from gyre.services.process import free_port
from tests.integration import serving_support as support

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BENTO = ROOT / "bentos" / "fraud_scorer"
EXTRA_KEY = "second-key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def registered(mlflow_tracking_uri: str, database_url: str, redis_url: str) -> dict[str, Any]:
    """Two registered versions of a fresh model: v1 is promoted to champion, v2 stays challenger; the feature
    definitions applied, so scoring reads the online store (Redis) through Feast."""
    from gyre.features.materialize import apply_if_changed

    apply_if_changed()
    name = f"fraud_serving_{uuid.uuid4().hex[:8]}"
    settings = load_settings(model_name=name, training_min_rows=500, training_estimator="logistic_regression")
    first, second = support.register_versions(settings, 2)
    support.promote(settings, first)
    env = {
        "GYRE_MODEL_NAME": name,
        "GYRE_SERVING_POLL_INTERVAL_S": "0.3",
        "GYRE_SERVING_API_KEYS": f"{EXTRA_KEY}, ",
        "GYRE_SERVING_RATE_LIMIT": "100000",
    }
    with support.serving_env(**env):
        yield {"settings": settings, "versions": (first, second), "env": env, "name": name}


@pytest.fixture(scope="module")
def service_module(registered: dict[str, Any]) -> Any:
    spec = importlib.util.spec_from_file_location("fraud_scorer_service", BENTO / "service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def api_key() -> str:
    return load_or_create(get_settings().home)[0].serving_api_key


def wait_until(probe, timeout_s: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout_s} s: {probe}")


def prediction_rows(request_ids: list[str]) -> list[Any]:
    import sqlalchemy as sa

    from gyre.db import engine

    with engine().connect() as connection:
        return connection.execute(
            sa.text(
                "select request_id::text, role, model_version, features from prediction_log"
                " where request_id::text = any(:ids)"
            ),
            {"ids": request_ids},
        ).all()


# --- depth 1: the service class -------------------------------------------------------------------------------
def test_service_class_scores_with_the_champion_and_logs_champion_and_shadow(service_module, registered) -> None:
    from gyre.serving.schema import Transaction

    service = service_module.FraudScorer()
    try:
        wait_until(service.__is_ready__)
        first, second = registered["versions"]
        body = support.transactions(3)
        one = service.score(Transaction(**body[0]))
        assert one.model_version == first and one.model_name == registered["name"]
        assert 0.0 <= one.score <= 1.0 and one.decision == (one.score >= one.threshold)
        many = service.score_batch([Transaction(**b) for b in body])
        assert [r.transaction_id for r in many] == [b["transaction_id"] for b in body]
        assert many[0].score == pytest.approx(one.score, abs=1e-6)
        assert len({r.request_id for r in many + [one]}) == 4
        runtime = service.runtime
        wait_until(lambda: runtime.holder.challenger is not None)
        service.score(Transaction(**body[1]))
        time.sleep(0.5)  # the shadow thread
        runtime.predictions.flush()
        ids = [one.request_id, *(r.request_id for r in many)]
        rows = prediction_rows(ids)
        champion_rows = [r for r in rows if r.role == "champion"]
        assert {r.request_id for r in champion_rows} == set(ids)
        assert all(r.model_version == first for r in champion_rows)
        assert set(champion_rows[0].features) == set(runtime.holder.champion.inputs)
        assert "gyre_decisions_total" in service.__metrics__("")
    finally:
        service.stop()


def test_shadow_scores_reach_the_log_with_the_challenger_version(service_module, registered) -> None:
    from gyre.serving.schema import Transaction

    service = service_module.FraudScorer()
    try:
        wait_until(lambda: service.runtime.holder.challenger is not None and service.__is_ready__())
        result = service.score(Transaction(**support.transactions(1)[0]))
        wait_until(lambda: len(prediction_rows([result.request_id])) == 2, timeout_s=10)
        roles = {r.role: r.model_version for r in prediction_rows([result.request_id])}
        assert roles == {"champion": registered["versions"][0], "challenger": registered["versions"][1]}
    finally:
        service.stop()


def test_prediction_log_never_blocks_and_counts_what_it_drops(database_url) -> None:
    import sqlalchemy as sa

    from gyre.serving.predlog import PredictionLog

    full = PredictionLog(lambda: None, capacity=2, batch=10)  # not started: the queue only fills
    started = time.perf_counter()
    accepted = [full.put({"n": i}) for i in range(5)]
    assert time.perf_counter() - started < 0.05
    assert accepted == [True, True, False, False, False] and full.dropped["queue_full"] == 3

    broken = sa.create_engine("postgresql+psycopg://nobody:wrong@127.0.0.1:1/none", pool_pre_ping=False)
    failing = PredictionLog(lambda: broken, capacity=10, batch=10)
    failing.start()
    row = {"features": {}, "request_id": str(uuid.uuid4())}
    failing.put(row)
    failing.put(dict(row))
    wait_until(lambda: failing.dropped["write_failed"] == 2, timeout_s=10)
    assert "OperationalError" in failing.last_error
    failing.stop()


def test_a_missing_feature_value_is_logged_as_null(database_url) -> None:
    """NaN (a first transaction has no gap to the previous one) is not JSON Postgres accepts: it becomes null.
    A row written twice (a batch retried) is logged once."""
    import datetime as dt

    import sqlalchemy as sa

    from gyre.db import engine
    from gyre.serving.predlog import PredictionLog

    log = PredictionLog(engine, capacity=10, batch=10)
    log.start()
    request_id, now = str(uuid.uuid4()), dt.datetime.now(dt.UTC)
    row = {"request_id": request_id, "role": "champion", "scored_at": now, "event_timestamp": now,
           "transaction_id": "T-nan", "customer_id": "C-nan", "merchant_id": "M-nan", "model_name": "fraud_detector",
           "model_version": "1", "score": 0.1, "decision": False, "threshold": 0.5, "unknown_entity": False,
           "features": {"seconds_since_prev_txn": float("nan"), "txn_amount": 12.5}, "feature_age_s": None,
           "latency_ms": 1.0}  # fmt: skip
    log.put(row)
    wait_until(lambda: log.written == 1, timeout_s=15)
    log.put(dict(row, score=0.9))  # the same row written again (a retried batch) changes nothing
    wait_until(lambda: log.written == 2, timeout_s=15)
    log.stop()
    with engine().connect() as connection:
        logged = connection.execute(
            sa.text("select features, score, arm from prediction_log where request_id = :id"), {"id": request_id}
        ).all()
    assert [tuple(r) for r in logged] == [({"seconds_since_prev_txn": None, "txn_amount": 12.5}, 0.1, None)]
    assert not log.dropped


# --- depth 2: the ASGI app ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def asgi(service_module) -> Iterator[Any]:
    with support.asgi_client(service_module.FraudScorer) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200)
        yield client


def test_asgi_scores_and_reports_ready(asgi, api_key, registered) -> None:
    body = support.transactions(2)
    response = asgi.post("/score", json={"transaction": body[0]}, headers={"X-API-Key": api_key})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model_version"] == registered["versions"][0]
    assert set(result) >= {"score", "decision", "model_version", "feature_age_s", "request_id", "unknown_entity"}
    batch = asgi.post("/score_batch", json={"transactions": body}, headers={"X-API-Key": EXTRA_KEY})
    assert batch.status_code == 200 and len(batch.json()) == 2
    ready = asgi.get("/readyz").json()
    assert ready["ready"] is True and ready["champion"] == registered["versions"][0]
    assert asgi.get("/healthz").status_code == 200


def test_swagger_page_has_no_tag_manager_and_its_examples_are_answered(asgi, api_key) -> None:
    """What a person opening :3000 gets: Gyre's version, an Authorize button, examples "Try it out" can send."""
    page = asgi.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in page.text and "googletagmanager" not in page.text
    spec = asgi.get("/docs.json").json()
    assert spec["info"]["version"] == importlib.metadata.version("gyre")
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    for path in ("/score", "/score_batch"):
        example = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]
        response = asgi.post(path, json=example, headers={"X-API-Key": api_key})
        assert response.status_code == 200, (path, response.text)


def test_asgi_refuses_bad_requests_with_clear_4xx(asgi, api_key) -> None:
    good = {"transaction": support.transactions(1)[0]}
    key = {"X-API-Key": api_key}
    assert asgi.post("/score", json=good).status_code == 401
    wrong = asgi.post("/score", json=good, headers={"X-API-Key": "wrong-" + api_key})
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid API key"}
    pickled = asgi.post(
        "/score", content=b"\x80\x04K\x01.", headers={**key, "Content-Type": "application/vnd.bentoml+pickle"}
    )
    assert pickled.status_code == 415 and "pickle" in pickled.json()["error"]
    assert asgi.post("/score", content=b"a=1", headers={**key, "Content-Type": "text/plain"}).status_code == 415
    huge = asgi.post(
        "/score", content=b"{" + b" " * 300_000 + b"}", headers={**key, "Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    bad = dict(good["transaction"], amount=-5, mcc="food")
    invalid = asgi.post("/score", json={"transaction": bad}, headers=key)
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.json()["detail"]}
    assert fields == {"transaction.amount", "transaction.mcc"}
    ancient = dict(good["transaction"], event_timestamp="0615-09-07T00:51:42Z", channel="p\u00f3s")
    refused = asgi.post("/score", json={"transaction": ancient}, headers=key)
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["detail"]} == {"transaction.event_timestamp", "transaction.channel"}
    garbage = asgi.post("/score", content=b"{not json", headers={**key, "Content-Type": "application/json"})
    assert garbage.status_code == 422 and garbage.json()["error"] == "body is not valid JSON"
    too_many = {"transactions": [good["transaction"]] * (get_settings().serving_max_batch + 1)}
    assert asgi.post("/score_batch", json=too_many, headers=key).status_code == 422


def test_rate_limit_answers_429_with_retry_after(asgi, redis_url) -> None:
    """The key's counter in Redis is set to the limit (as if other workers had used it up): within one background
    sync (50 ms) the worker learns it and refuses, having admitted only the requests of that interval."""
    import redis

    from gyre.serving.ratelimit import RateLimiter, key_ident

    settings = get_settings()
    window = settings.serving_rate_window_s
    client = redis.Redis.from_url(redis_url)
    slot = int(time.time() // window)
    names = [RateLimiter.counter(key_ident(EXTRA_KEY), s) for s in (slot, slot + 1)]  # the window may turn over
    body = {"transaction": support.transactions(1)[0]}
    try:
        for name in names:
            client.set(name, settings.serving_rate_limit, ex=window * 3)
        admitted, began = 0, time.monotonic()
        while (limited := asgi.post("/score", json=body, headers={"X-API-Key": EXTRA_KEY})).status_code == 200:
            admitted += 1
            assert time.monotonic() - began < 2.0, "the limit in Redis was not learnt within 2 s"
        assert limited.status_code == 429 and admitted <= 20, (limited.status_code, admitted)
        assert 1 <= int(limited.headers["Retry-After"]) <= window
        assert "rate limit" in limited.json()["error"]
    finally:
        client.delete(*names)
    wait_until(lambda: asgi.post("/score", json=body, headers={"X-API-Key": EXTRA_KEY}).status_code == 200, 5)
    metrics = asgi.get("/metrics").text
    assert 'gyre_responses_total{endpoint="score",status="429"}' in metrics


# --- depth 3: a real `bentoml serve` process ------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(registered: dict[str, Any]) -> Iterator[str]:
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "bentoml"),
        "serve",
        "service:FraudScorer",
        "--working-dir",
        str(BENTO),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {**os.environ, **registered["env"], "GYRE_SERVING_PORT": str(port)}
    log = (Path(get_settings().home) / "serving-test.log").open("ab")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, f"bentoml serve exited with {process.returncode}; see {log.name}"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError(f"bentoml serve not ready after 180 s; see {log.name}")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def worker_processes(url: str) -> dict[str, list[psutil.Process]]:
    """The BentoML workers behind ``url`` by service name: the answers worker (its environment names the port),
    and its siblings under the same arbiter."""
    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            argv = process.info["cmdline"] or []
            if "answers" in argv and process.environ().get("GYRE_SERVING_PORT") == port:
                found: dict[str, list[psutil.Process]] = {}
                for worker in process.parent().children():
                    argv = worker.cmdline()
                    found.setdefault(argv[argv.index("--service-name") + 1], []).append(worker)
                return found
    raise AssertionError(f"no answers worker serves {url}")


def loads_torch(process: psutil.Process) -> bool:
    return "libtorch" in Path(f"/proc/{process.pid}/maps").read_text()


def test_first_ask_after_a_start_is_answered_at_once_from_its_own_process(server, api_key) -> None:
    """/ask is relayed to the answers service's own worker. While it loads its embedding model each /ask gets a
    503 saying so within a second (none is held until the 10 s timeout), then answers; torch is loaded in that
    worker only, never in a scoring worker, and /score answers meanwhile."""
    key = {"X-API-Key": api_key}
    score = {"transaction": support.transactions(1)[0]}
    answers: list[tuple[int, float, str]] = []
    deadline = time.monotonic() + 180
    while not answers or answers[-1][0] == 503:
        assert time.monotonic() < deadline, answers[-3:]
        began = time.monotonic()
        response = httpx.post(f"{server}/ask", json={"question": "Who is paged for a SEV1?"}, headers=key, timeout=15)
        answers.append((response.status_code, time.monotonic() - began, response.text))
        assert httpx.post(f"{server}/score", json=score, headers=key).status_code == 200
    assert answers[-1][0] == 200 and "answer" in json.loads(answers[-1][2]), answers[-1]
    assert all("loading its embedding model" in json.loads(text)["error"] for code, _, text in answers[:-1])
    assert max((seconds for _, seconds, _ in answers[:-1]), default=0) < 2.0 and answers[-1][1] < 5.0, answers
    workers = worker_processes(server)
    assert set(workers) == {"fraud_scorer", "answers"}, workers
    assert all(loads_torch(process) for process in workers["answers"])
    assert not any(loads_torch(process) for process in workers["fraud_scorer"])


def test_real_server_scores_through_bentoml_client(server, api_key, registered) -> None:
    import bentoml

    body = support.transactions(3)
    with bentoml.SyncHTTPClient(server) as client:
        client.client.headers["X-API-Key"] = api_key
        one = client.score(transaction=body[0])
        many = client.score_batch(transactions=body)
    assert one["model_version"] == registered["versions"][0]
    assert [r["transaction_id"] for r in many] == [b["transaction_id"] for b in body]
    assert len({r["request_id"] for r in [one, *many]}) == 4
    with bentoml.SyncHTTPClient(server) as anonymous, pytest.raises(bentoml.exceptions.BentoMLException):
        anonymous.score(transaction=body[0])
    never = {**body[0], "customer_id": f"never-{uuid.uuid4().hex[:8]}", "merchant_id": "never-materialized"}
    unseen = httpx.post(f"{server}/score", json={"transaction": never}, headers={"X-API-Key": api_key}).json()
    assert unseen["unknown_entity"] is True and unseen["feature_age_s"] is None
    metrics = httpx.get(f"{server}/metrics").text
    assert re.search(r"^gyre_unknown_entities_total [1-9]", metrics, re.MULTILINE), "unseen entities not counted"
    assert "gyre_decisions_total{" in metrics and "gyre_request_latency_seconds_bucket" in metrics
    assert f'gyre_model_info{{role="champion",version="{registered["versions"][0]}"}} 1.0' in metrics
    assert "gyre_prediction_log_dropped_total" in metrics or "gyre_prediction_log_queue_depth" in metrics
    wait_until(lambda: len(prediction_rows([one["request_id"]])) >= 1, timeout_s=10)


def test_a_stalled_redis_gets_503_with_the_reason_and_readyz_still_answers(server, api_key, redis_url) -> None:
    """The real Redis is paused (SIGSTOP) while four clients score: each request is answered 503 with the
    reason within about the online read's timeout, /readyz answers within a second, and scoring resumes."""
    import redis

    pid = redis.Redis.from_url(redis_url).info()["process_id"]
    body = {"transaction": support.transactions(1)[0]}
    answers: list[tuple[int, float, str]] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=server, headers={"X-API-Key": api_key}, timeout=10) as http:
            for _ in range(4):
                began = time.monotonic()
                response = http.post("/score", json=body)
                with lock:
                    answers.append((response.status_code, time.monotonic() - began, response.text))

    assert httpx.post(f"{server}/score", json=body, headers={"X-API-Key": api_key}).status_code == 200
    os.kill(pid, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=client_loop) for _ in range(4)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        ready = httpx.get(f"{server}/readyz", timeout=5)
        ready_s = time.monotonic() - began
        for thread in threads:
            thread.join(timeout=30)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert ready.status_code == 503 and ready_s < 1.0, (ready.status_code, ready_s)
    assert any("Redis does not answer" in reason for reason in ready.json()["reasons"])
    assert len(answers) == 16 and {code for code, _, _ in answers} == {503}, answers[:3]
    assert max(seconds for _, seconds, _ in answers) < 2.0, answers
    assert "online feature store does not answer" in answers[0][2]
    wait_until(lambda: httpx.post(f"{server}/score", json=body, headers={"X-API-Key": api_key}).status_code == 200)
    metrics = httpx.get(f"{server}/metrics").text
    assert re.search(r'^gyre_errors_total\{kind="online_store"\} [1-9]', metrics, re.MULTILINE)


def test_openapi_schema_is_true_to_the_service_under_every_schemathesis_check(server, api_key) -> None:
    """Every operation of the served OpenAPI schema with generated bodies, valid and invalid, under schemathesis'
    checks (status codes, response schemas, content types, auth, methods, negative data): no failure."""
    from hypothesis import given

    schema = schemathesis.openapi.from_url(f"{server}/docs.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/score", "/score_batch", "/ask", "/ask_stream", "/readyz", "/healthz"}
    operations = [op for op in operations if not op.path.startswith("/console")]  # gyre.console's own tests
    statuses: list[int] = []
    for operation in operations:
        # A valid question costs a retrieval (the answers service's own tests cover answers): fewer of them.
        examples = 10 if operation.path.startswith("/ask") else 30

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case) -> None:  # noqa: ANN001
            response = case.call(headers={"X-API-Key": api_key}, timeout=10)
            statuses.append(response.status_code)
            # Every check but one: "schema-valid data is accepted" cannot hold for event_timestamp, whose bound
            # (within GYRE_SERVING_MAX_EVENT_SKEW_DAYS of now) no JSON Schema keyword can state; asserted below.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        call()
    assert 422 in statuses and 200 in statuses
    trace = httpx.request("TRACE", f"{server}/readyz")
    assert trace.status_code == 405 and trace.json()["error"]
    coerced = {"transaction": {**support.transactions(1)[0], "amount": True}}
    refused = httpx.post(f"{server}/score", json=coerced, headers={"X-API-Key": api_key})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "transaction.amount"
    decades = {"transaction": {**support.transactions(1)[0], "event_timestamp": "2090-01-01T00:00:00Z"}}
    refused = httpx.post(f"{server}/score", json=decades, headers={"X-API-Key": api_key})
    assert refused.status_code == 422 and refused.json()["detail"][0]["type"] == "event_timestamp_out_of_range"


def test_champion_moves_under_load_without_a_failed_request(server, api_key, registered) -> None:
    """Four clients score continuously while `champion` moves v1 -> v2; every request must succeed."""
    first, second = registered["versions"]
    bodies = [{"transaction": t} for t in support.transactions(50)]
    stop = threading.Event()
    seen: list[str] = []
    by_client: list[list[str]] = [[] for _ in range(4)]  # each client's answers in the order it got them
    failures: list[str] = []
    lock = threading.Lock()

    def client_loop(mine: list[str]) -> None:
        with httpx.Client(base_url=server, headers={"X-API-Key": api_key}, timeout=10) as http:
            i = 0
            while not stop.is_set():
                try:
                    response = http.post("/score", json=bodies[i % len(bodies)])
                    if response.status_code != 200:
                        raise RuntimeError(f"{response.status_code} {response.text[:200]}")
                    version = response.json()["model_version"]
                    mine.append(version)
                    with lock:
                        seen.append(version)
                except Exception as error:  # noqa: BLE001 - every failure is counted
                    with lock:
                        failures.append(repr(error))
                i += 1

    threads = [threading.Thread(target=client_loop, args=(mine,)) for mine in by_client]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        support.promote(registered["settings"], second)
        wait_until(lambda: seen[-20:] == [second] * 20, timeout_s=30)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert failures == [], failures[:5]
    assert first in seen and second in seen, "the swap was not observed"
    # A client sends its next request once it has its answer: after one answer from the new version, every later
    # request of that client starts after the swap and must get the new version too. (The order of the shared list
    # is the order the threads got the lock, not the server's, so it cannot tell.)
    for mine in by_client:
        after_swap = mine[mine.index(second) :] if second in mine else []
        assert first not in after_swap, mine
    metrics = httpx.get(f"{server}/metrics").text
    assert 'gyre_model_swaps_total{role="champion"} 1.0' in metrics
    assert f'gyre_model_info{{role="champion",version="{second}"}} 1.0' in metrics
    assert f'gyre_model_info{{role="champion",version="{first}"}} 0.0' in metrics
    assert len(re.findall(r"^gyre_model_swaps_total", metrics, re.MULTILINE)) == 1, "a series printed twice"
