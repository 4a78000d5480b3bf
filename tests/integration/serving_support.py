"""Shared by the serving tests: registered model versions with ONNX files, and sample transactions."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gyre.config import Settings
from gyre.registry import models
from gyre.training import flow
from gyre.training.spec import FRAUD
from gyre.training.synthetic import fraud_frame
from gyre.training.tracking import MODEL_ARTIFACT, Lineage

MONDAY = dt.date(2026, 3, 2)


def register_versions(settings: Settings, count: int, days: int = 2) -> list[str]:
    """``count`` registered versions with ONNX files (the last one is ``challenger``); none promoted.

    One model is trained and exported; its run is registered ``count`` times, which gives distinct versions
    (what serving tells apart) for the price of one training.
    """
    import mlflow

    first = MONDAY
    lineage = Lineage(
        request_key="serving-test",
        feature_service=settings.feature_service,
        window_start=first.isoformat(),
        window_end=(first + dt.timedelta(days=days)).isoformat(),
        data_digest="sha256:serving-test",
        validation="test frame: generator output",
        git_commit="test",
    )
    run_id = flow.train_and_track(fraud_frame(first, days, seed=7), lineage, FRAUD, settings)
    flow.export(run_id, FRAUD, settings)
    versions = [flow.register(run_id, settings)]
    for _ in range(count - 1):
        versions.append(mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", settings.model_name).version)
    models.client().set_registered_model_alias(settings.model_name, models.CHALLENGER, versions[-1])
    return versions


def register_broken(settings: Settings, good: str) -> str:
    """A version whose ONNX file is not a model (its inputs list is the good version's): a corrupted export."""
    from gyre.export.onnx import ONNX_ARTIFACT
    from gyre.training.tracking import INPUTS_ARTIFACT

    client = models.client()
    good_run = client.get_run(client.get_model_version(settings.model_name, good).run_id)
    run = client.create_run(good_run.info.experiment_id, tags={"gyre.purpose": "broken export"})
    with tempfile.TemporaryDirectory() as tmp:
        client.log_artifact(run.info.run_id, client.download_artifacts(good_run.info.run_id, INPUTS_ARTIFACT, tmp))
        onnx = Path(tmp) / Path(ONNX_ARTIFACT).name
        onnx.write_bytes(b"not an ONNX model")
        client.log_artifact(run.info.run_id, str(onnx), str(Path(ONNX_ARTIFACT).parent))
    client.set_terminated(run.info.run_id)
    source = f"{run.info.artifact_uri}/model"
    return client.create_model_version(settings.model_name, source, run.info.run_id).version


def promote(settings: Settings, version: str) -> None:
    models.promote(settings.model_name, version, "serving test", {})


def transactions(count: int, day: dt.date = dt.date(2026, 4, 1), seed: int = 11) -> list[dict]:
    """Request bodies in the endpoint's schema, from the ingest generator."""
    from gyre.data import source
    from gyre.demo import transaction_body

    return [transaction_body(row) for row in source.transactions(seed, day).head(count).itertuples()]


@contextmanager
def serving_env(**values: str) -> Iterator[None]:
    """GYRE_* variables for the service under test, restored afterwards (settings are read once per process)."""
    from gyre.config import get_settings

    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextmanager
def served(settings: Settings, timeout_s: float = 180.0) -> Iterator[str]:
    """The endpoint as `gyre up` runs it (a `bentoml serve` process group on ``settings.serving_port``, with this
    process's environment); yields its URL once /healthz answers and stops the whole group afterwards."""
    from gyre.services.credentials import load_or_create
    from gyre.services.process import wait_ready
    from gyre.services.serving import EmbeddedServing

    service = EmbeddedServing(settings, load_or_create(settings.home)[0])
    service.prepare()
    (process,) = service.processes()
    process.start()
    try:
        wait_ready([process], service.ready, timeout_s=timeout_s)
        yield service.url
    finally:
        process.stop()


@contextmanager
def asgi_client(service: type) -> Iterator[object]:
    """A test client over ``service.to_asgi()``, which can be opened more than once per process.

    BentoML's traffic middleware registers its metrics on Prometheus' process-wide registry when the app
    starts; a second app in the same test session would find them taken. They are released on the way out.
    """
    from starlette.testclient import TestClient

    with TestClient(service.to_asgi()) as client:
        try:
            yield client
        finally:
            _release_bentoml_metrics()


@contextmanager
def asgi_server(app: Any, timeout_s: float = 60.0) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port in this process, for a real browser or client; yields
    its base URL once it answers."""
    import threading
    import time

    import uvicorn

    from gyre.services.process import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-http-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start (see the log above)"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def http_server(service: type, timeout_s: float = 60.0) -> Iterator[str]:
    """``service.to_asgi()`` served by ``asgi_server``; released like ``asgi_client``."""
    try:
        with asgi_server(service.to_asgi(), timeout_s) as url:
            yield url
    finally:
        _release_bentoml_metrics()


def _release_bentoml_metrics() -> None:
    from prometheus_client import REGISTRY

    for collector in list(REGISTRY._collector_to_names):
        if any(name.startswith("bentoml_") for name in REGISTRY._collector_to_names[collector]):
            REGISTRY.unregister(collector)
