"""Open-loop load on the scoring endpoint at rising rates, against two baselines in the same run.

    .venv/bin/python bench/serve.py                       # rates 100..3200 req/s, 5 s each
    .venv/bin/python bench/serve.py --rates 200,400 --seconds 3

It starts a private Postgres, Redis and MLflow, trains and promotes one model, then serves it three ways on
127.0.0.1: (1) fraud_scorer with `bentoml serve`, (b) `mlflow models serve` of the same scikit-learn model,
(c) a minimal FastAPI + onnxruntime app doing the same work (bench/serve_baseline.py). Requests are sent on
a fixed schedule (open loop: a slow server does not slow the sender), latency counted from the scheduled
time. For each server and endpoint it prints the highest rate whose p99 stays under 10 ms with no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _start(argv: list[str], env: dict[str, str], log: Path, ready_url: str, timeout_s: float = 240) -> subprocess.Popen:
    process = subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited; see {log}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{ready_url} not ready; see {log}")


async def _open_loop(url: str, make_body, headers: dict, rate: float, seconds: float) -> dict:  # noqa: ANN001
    """Send ``rate`` requests/s for ``seconds`` on schedule; latency from each request's scheduled start."""
    n = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(headers=headers, timeout=5, limits=limits) as client:
        start = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            nonlocal errors
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                response = await client.post(url, json=make_body(i))
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(one(i) for i in range(n)))
    latencies.sort()
    return {
        "rate": rate,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "errors": errors,
    }


def _sweep(name: str, url: str, make_body, headers: dict, rates: list[float], seconds: float) -> float:  # noqa: ANN001
    best = 0.0
    for i in range(int(200 * 1)):  # warm-up
        httpx.post(url, json=make_body(i), headers=headers, timeout=10)
        if i > 50:
            break
    for rate in rates:
        result = asyncio.run(_open_loop(url, make_body, headers, rate, seconds))
        ok = result["p99_ms"] < 10 and result["errors"] == 0
        print(
            f"{name:28s} {rate:7.0f}/s  p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:8.2f} ms  "
            f"errors {result['errors']:5d}  {'ok' if ok else 'over'}",
            flush=True,
        )
        if not ok:
            break
        best = rate
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="100,200,400,800,1600,3200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=20, help="transactions per /score_batch call")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    from tests.conftest import isolated_env

    home = Path(tempfile.mkdtemp(prefix="gyre-bench-serve-"))
    os.environ.update(isolated_env(home))
    name = f"fraud_bench_{uuid.uuid4().hex[:6]}"
    os.environ.update({"GYRE_MODEL_NAME": name, "GYRE_SERVING_RATE_LIMIT": "100000000"})
    from gyre.config import get_settings
    from gyre.services.credentials import load_or_create
    from gyre.services.process import free_port
    from gyre.services.supervisor import Supervisor

    settings = get_settings()
    stack = Supervisor(settings, only=("postgres", "redis", "mlflow"), report=lambda _: None)
    stack.up()
    processes: list[subprocess.Popen] = []
    try:
        from gyre.config import load_settings
        from gyre.registry import models
        from tests.integration import serving_support as support

        train = load_settings(model_name=name, training_min_rows=500)
        (version,) = support.register_versions(train, 1)
        support.promote(train, version)
        key = load_or_create(settings.home)[0].serving_api_key
        bodies = support.transactions(500)
        from gyre.services.endpoints import mlflow_client_env, mlflow_url

        # `mlflow models serve` runs `uvicorn` from PATH: this environment's.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_url(settings), **mlflow_client_env(settings), "PATH": path}
        bin_dir = Path(sys.executable).parent
        ports = {k: free_port() for k in ("bento", "fastapi", "mlflow")}
        logs = settings.logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        processes.append(
            _start(
                [
                    str(bin_dir / "bentoml"),
                    "serve",
                    "service:FraudScorer",
                    "--working-dir",
                    str(ROOT / "bentos/fraud_scorer"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["bento"]),
                ],
                {**env, "GYRE_SERVING_PORT": str(ports["bento"])},
                logs / "bench-bento.log",
                f"http://127.0.0.1:{ports['bento']}/readyz",
            )
        )
        processes.append(
            _start(
                [sys.executable, str(ROOT / "bench/serve_baseline.py"), str(ports["fastapi"])],
                env,
                logs / "bench-fastapi.log",
                f"http://127.0.0.1:{ports['fastapi']}/docs",
            )
        )
        processes.append(
            _start(
                [
                    str(bin_dir / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    f"models:/{name}/{version}",
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(ports["mlflow"]),
                    "-w",
                    "1",
                ],
                env,
                logs / "bench-mlflow.log",
                f"http://127.0.0.1:{ports['mlflow']}/ping",
            )
        )
        loaded = models.load(name, version)
        frame = loaded.holdout[loaded.numeric + loaded.categorical].head(500)
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        auth = {"X-API-Key": key}
        batch = args.batch
        best = {
            "bentoml /score": _sweep(
                "bentoml /score",
                f"http://127.0.0.1:{ports['bento']}/score",
                lambda i: {"transaction": bodies[i % 500]},
                auth,
                rates,
                args.seconds,
            ),
            "fastapi /score": _sweep(
                "fastapi+onnx /score",
                f"http://127.0.0.1:{ports['fastapi']}/score",
                lambda i: {"transaction": bodies[i % 500]},
                auth,
                rates,
                args.seconds,
            ),
            "mlflow /invocations": _sweep(
                "mlflow models serve",
                f"http://127.0.0.1:{ports['mlflow']}/invocations",
                lambda i: {"dataframe_records": [records[i % 500]]},
                {},
                rates,
                args.seconds,
            ),
            "bentoml /score_batch": _sweep(
                f"bentoml /score_batch x{batch}",
                f"http://127.0.0.1:{ports['bento']}/score_batch",
                lambda i: {"transactions": [bodies[(i + j) % 500] for j in range(batch)]},
                auth,
                rates,
                args.seconds,
            ),
            "fastapi /score_batch": _sweep(
                f"fastapi /score_batch x{batch}",
                f"http://127.0.0.1:{ports['fastapi']}/score_batch",
                lambda i: {"transactions": [bodies[(i + j) % 500] for j in range(batch)]},
                auth,
                rates,
                args.seconds,
            ),
        }
        print("\nhighest rate with p99 < 10 ms and no errors:")
        for label, rate in best.items():
            print(f"  {label:24s} {rate:7.0f} req/s")
        for a, b in (
            ("bentoml /score", "fastapi /score"),
            ("bentoml /score", "mlflow /invocations"),
            ("bentoml /score_batch", "fastapi /score_batch"),
        ):
            ratio = best[a] / best[b] if best[b] else float("nan")
            print(f"  {a} / {b}: {ratio:.2f}")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        stack.down()


if __name__ == "__main__":
    main()
