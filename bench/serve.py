"""The scoring endpoint under a compiled load generator, beside the obvious alternatives, in one run.

    .venv/bin/python bench/serve.py                          # 5 s per point, concurrency 1..32
    .venv/bin/python bench/serve.py --seconds 3 --concurrency 1,8,32 --no-profile

On a private stack (Postgres, Redis, MLflow) it loads a few days of generated traffic, computes and
materializes their features into Redis (Feast), trains and promotes one model, then serves it five ways on
127.0.0.1, each pinned to CPU 0 with ``taskset`` while ``wrk`` (Debian's, one thread) drives it from CPU 1,
so the sender never competes with the server:

1. fraud_scorer under ``bentoml serve`` (one worker: one core), the real service;
2. FastAPI + onnxruntime doing the same work (API key, rate limit, the Feast read of both entities from Redis,
   the ONNX model; bench/serve_baseline.py);
3. ``mlflow models serve`` of the same model (scikit-learn per request, features sent in the request);
4. a do-nothing BentoML API and 5. a do-nothing FastAPI route: each framework's ceiling on this core.

Closed loop at each concurrency: requests/s, p50 and p99 (wrk's latency distribution), errors. The highest
rate at p99 <= 10 ms is the best throughput among the concurrencies whose p99 stayed within 10 ms. Then
/score_batch of 100 transactions, the in-process online read (Gyre's read plan against Feast's own
``get_online_features``), and, with py-spy, where a /score request's time goes inside the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER_CPU, LOAD_CPU = "0", "1"
LUA = ROOT / "bench" / "wrk" / "post.lua"
SERVERS = ("fastapi", "mlflow", "bento-noop", "fastapi-noop")
NOOP_BENTO = ROOT / "bench" / "noop_bento"

# Where a sampled stack's time goes: the first rule (from the innermost frame outwards) that matches it.
BREAKDOWN = (
    ("ONNX Runtime", ("onnxruntime",)),
    ("feature read (Redis, Feast protos)", ("serving/features.py", "/redis/", "/feast/", "protobuf")),
    ("request-time features", ("features/request.py",)),
    ("prediction-log enqueue", ("serving/predlog.py", "queue.py")),
    ("metrics", ("prometheus_client",)),
    ("auth and rate limit", ("ratelimit.py", "key_matches", "hmac.py")),
    ("request/response models (pydantic)", ("pydantic",)),
    ("model input, result rows (gyre)", ("serving/model.py", "serving/runtime.py", "numpy", "uuid.py")),
    ("HTTP and framework (uvicorn, starlette, BentoML)", ("uvicorn", "starlette", "bentoml", "h11", "httptools",
                                                          "asyncio", "opentelemetry", "anyio", "guard.py")),
)  # fmt: skip


def _start(argv: list[str], env: dict[str, str], log: Path, ready: tuple[str, str, dict]) -> subprocess.Popen:
    process = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *argv], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    method, url, body = ready
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited; see {log}")
        try:
            response = httpx.request(method, url, timeout=5, **body)
            if response.status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready; see {log}")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(url: str, bodies: Path, concurrency: int, seconds: float, key: str = "") -> dict[str, float]:
    """One closed-loop run of wrk (one thread, ``concurrency`` connections) pinned to the load CPU."""
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{concurrency}", f"-d{round(seconds)}s", "--latency",
            "-s", str(LUA), url, "--", str(bodies)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "BENCH_API_KEY": key})
    out = done.stdout
    if "requests in" not in out:
        raise RuntimeError(f"wrk failed on {url}: {done.stderr.strip() or out.strip()}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in socket.groups()) if socket else 0)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(latency["50"]) if "50" in latency else float("inf"),
        "p99": _ms(latency["99"]) if "99" in latency else float("inf"),
        "errors": errors,
        "requests": requests,
    }


def _lines(path: Path, bodies: list[dict]) -> Path:
    path.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    return path


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def _load_features(settings, days: int) -> list:  # noqa: ANN001
    """Generate, ingest and compute ``days`` days, apply the definitions and materialize them into Redis."""
    import datetime as dt

    from gyre.data.writer import write_day
    from gyre.features.compute import compute_interval, day_interval
    from gyre.features.materialize import materialize_interval
    from gyre.features.store import apply_definitions, feature_store
    from gyre.ingest.load import ingest

    first = dt.date(2026, 3, 1)
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    for day in dates:
        write_day(settings.landing, day, seed=42)
        ingest("transactions", day, publish_docs=False)
        ingest("labels", day, publish_docs=False)
        compute_interval(*day_interval(day))
    apply_definitions(settings)
    store = feature_store(settings, fresh=True)
    for day in dates:
        materialize_interval(*day_interval(day), store)
    return dates


def _transactions(count: int, at) -> list[dict]:  # noqa: ANN001
    """Request bodies of ingested transactions (their entities are online), as if they arrived at ``at``."""
    import pandas as pd

    from gyre.db import engine
    from gyre.demo import transaction_body

    with engine().connect() as connection:
        rows = pd.read_sql(
            "select transaction_id, customer_id, merchant_id, amount::float8 as amount, channel, mcc,"
            " merchant_country, customer_country, card_age_days from transactions order by transaction_id"
            f" limit {int(count)}",
            connection,
        )
    rows["event_timestamp"] = pd.Timestamp(at)
    return [transaction_body(row) for row in rows.itertuples()]


def _profile(pid: int, url: str, bodies: Path, key: str, seconds: float, connections: int) -> Counter | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed: no breakdown (pip install py-spy)")
        return None
    out = Path(tempfile.mkdtemp()) / "stacks.txt"
    load = subprocess.Popen(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{round(seconds) + 2}s", "-s", str(LUA),
         url, "--", str(bodies)],
        env={**os.environ, "BENCH_API_KEY": key}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)
    subprocess.run(
        [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "400", "-f", "raw", "-o", str(out),
         "--nonblocking"], capture_output=True, check=False,
    )  # fmt: skip
    load.wait()
    shares: Counter = Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("serving/guard.py" in f for f in frames) and not any("uvicorn" in f for f in frames):
            continue  # a background thread (alias poll, prediction-log writer), not the request path
        for frame in reversed(frames):
            category = next((name for name, marks in BREAKDOWN if any(m in frame for m in marks)), None)
            if category:
                shares[category] += int(count)
                break
        else:
            shares["other"] += int(count)
    return shares


def _worker_pid(parent: int) -> int:
    import psutil

    children = psutil.Process(parent).children(recursive=True)
    # The scoring worker, not the answers service's (a worker of its own under the same `bentoml serve`).
    workers = [c for c in children if "--service-name fraud_scorer" in " ".join(c.cmdline())]
    return (workers or children)[0].pid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5, help="duration of each load point")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32", help="connections per closed-loop point")
    parser.add_argument("--days", type=int, default=3, help="days of traffic whose features are online")
    parser.add_argument("--batch", type=int, default=100, help="transactions per /score_batch call")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy breakdown")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"which to run, of {','.join(SERVERS)} (fraud_scorer always)"
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    chosen = set(args.servers.split(",")) - {"fraud_scorer"}
    if unknown := chosen - set(SERVERS):
        sys.exit(f"--servers: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}")
    if not shutil.which("wrk"):
        sys.exit("bench/serve.py needs wrk (Debian: apt-get install wrk)")

    from tests.conftest import isolated_env

    home = Path(tempfile.mkdtemp(prefix="gyre-bench-serve-"))
    os.environ.update(isolated_env(home))
    name = f"fraud_bench_{uuid.uuid4().hex[:6]}"
    os.environ.update({"GYRE_MODEL_NAME": name, "GYRE_SERVING_RATE_LIMIT": "1000000000", "GYRE_SERVING_WORKERS": "1"})
    import datetime as dt

    from gyre.config import get_settings, load_settings
    from gyre.services.credentials import load_or_create
    from gyre.services.endpoints import mlflow_url
    from gyre.services.process import free_port
    from gyre.services.supervisor import Supervisor

    settings = get_settings()
    stack = Supervisor(settings, only=("postgres", "redis", "mlflow"), report=lambda _: None)
    stack.up()
    processes: list[subprocess.Popen] = []
    try:
        from tests.integration import serving_support as support

        print(f"loading {args.days} days of traffic and materializing their features ...", flush=True)
        dates = _load_features(settings, args.days)
        train = load_settings(model_name=name, training_min_rows=500)
        (version,) = support.register_versions(train, 1)
        support.promote(train, version)
        key = load_or_create(settings.home)[0].serving_api_key
        at = dt.datetime.combine(dates[-1] + dt.timedelta(days=1), dt.time(9), tzinfo=dt.UTC)
        transactions = _transactions(500, at)
        files = Path(tempfile.mkdtemp(prefix="gyre-bench-bodies-"))
        single = _lines(files / "score.jsonl", [{"transaction": t} for t in transactions])
        batches = _lines(
            files / "batch.jsonl",
            [{"transactions": [transactions[(i + j) % 500] for j in range(args.batch)]} for i in range(50)],
        )
        records = _model_records(transactions, settings, name, version)
        mlflow_bodies = _lines(files / "mlflow.jsonl", [{"dataframe_records": [r]} for r in records])

        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_url(settings), "PATH": path}
        bin_dir = Path(sys.executable).parent
        ports = {k: free_port() for k in ("bento", "fastapi", "mlflow", "bento_noop", "fastapi_noop")}
        logs = settings.logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        score_probe = {"json": {"transaction": transactions[0]}, "headers": {"X-API-Key": key}}
        bento = _start(
            [str(bin_dir / "bentoml"), "serve", "service:FraudScorer", "--working-dir",
             str(ROOT / "bentos/fraud_scorer"), "--host", "127.0.0.1", "--port", str(ports["bento"])],
            {**env, "GYRE_SERVING_PORT": str(ports["bento"])}, logs / "bench-bento.log",
            ("POST", f"http://127.0.0.1:{ports['bento']}/score", score_probe),
        )  # fmt: skip
        processes.append(bento)
        # The alternatives: how each starts, is probed, and is driven (URL, request bodies, API key).
        alternatives = {
            "fastapi": (
                "FastAPI + onnxruntime",
                [sys.executable, str(ROOT / "bench/serve_baseline.py"), str(ports["fastapi"])],
                ("POST", f"http://127.0.0.1:{ports['fastapi']}/score", score_probe),
                (f"http://127.0.0.1:{ports['fastapi']}/score", single, key),
            ),
            "mlflow": (
                "mlflow models serve",
                [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{name}/{version}", "--env-manager",
                 "local", "-h", "127.0.0.1", "-p", str(ports["mlflow"]), "-w", "1"],
                ("GET", f"http://127.0.0.1:{ports['mlflow']}/ping", {}),
                (f"http://127.0.0.1:{ports['mlflow']}/invocations", mlflow_bodies, ""),
            ),
            "bento-noop": (
                "no-op BentoML API",
                [str(bin_dir / "bentoml"), "serve", "service:Noop", "--working-dir", str(NOOP_BENTO), "--host",
                 "127.0.0.1", "--port", str(ports["bento_noop"])],
                ("POST", f"http://127.0.0.1:{ports['bento_noop']}/score", {"json": {"transaction": transactions[0]}}),
                (f"http://127.0.0.1:{ports['bento_noop']}/score", single, ""),
            ),
            "fastapi-noop": (
                "no-op FastAPI route",
                [sys.executable, str(ROOT / "bench/serve_baseline.py"), str(ports["fastapi_noop"]), "noop"],
                ("POST", f"http://127.0.0.1:{ports['fastapi_noop']}/score", {}),
                (f"http://127.0.0.1:{ports['fastapi_noop']}/score", single, ""),
            ),
        }  # fmt: skip
        servers = {"fraud_scorer (BentoML)": (f"http://127.0.0.1:{ports['bento']}/score", single, key)}
        for choice in SERVERS:
            if choice in chosen:
                label, argv, ready, target = alternatives[choice]
                processes.append(_start(argv, env, logs / f"bench-{choice}.log", ready))
                servers[label] = target
        print(f"\n/score, closed loop, {args.seconds:.0f} s a point; server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}")
        print(f"{'server':26s} {'conns':>5s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
        results: dict[str, dict[int, dict[str, float]]] = {}
        for label, (url, bodies, auth) in servers.items():
            wrk(url, bodies, 4, 2, auth)  # warm-up
            results[label] = {}
            for level in levels:
                point = wrk(url, bodies, level, args.seconds, auth)
                results[label][level] = point
                print(
                    f"{label:26s} {level:5d} {point['rps']:8.0f} {point['p50']:8.2f} {point['p99']:8.2f} "
                    f"{point['errors']:7.0f}",
                    flush=True,
                )

        def best(label: str) -> float:
            ok = [p["rps"] for p in results[label].values() if p["p99"] <= 10 and p["errors"] == 0]
            return max(ok, default=0.0)

        print("\nhighest throughput with p99 <= 10 ms and no errors (req/s):")
        for label in servers:
            print(f"  {label:26s} {best(label):8.0f}" if best(label) else f"  {label:26s}     none: p99 > 10 ms")
        print("\nfraud_scorer's requests/s against each, at the same connections:")
        ours = results["fraud_scorer (BentoML)"]
        for other in list(servers)[1:]:
            ratios = ", ".join(f"{ours[c]['rps'] / results[other][c]['rps']:.2f}x at {c}" for c in levels)
            print(f"  / {other:24s} {ratios}")

        print(f"\n/score_batch of {args.batch} transactions, closed loop")
        batch_servers = [("fraud_scorer (BentoML)", ports["bento"])]
        batch_servers += [("FastAPI + onnxruntime", ports["fastapi"])] if "fastapi" in chosen else []
        for label, port in batch_servers:
            for level in (1, 4):
                point = wrk(f"http://127.0.0.1:{port}/score_batch", batches, level, args.seconds, key)
                print(
                    f"  {label:26s} conns {level}: {point['rps']:6.0f} req/s = {point['rps'] * args.batch:8.0f} "
                    f"transactions/s, p50 {point['p50']:6.2f} ms, p99 {point['p99']:6.2f} ms, "
                    f"errors {point['errors']:.0f}"
                )
        # Its writer thread shares the core: the rows must all be written, none dropped, for the figures to count.
        time.sleep(1)
        logged = httpx.get(f"http://127.0.0.1:{ports['bento']}/readyz", timeout=10).json()["prediction_log"]
        print(
            f"  fraud_scorer's prediction log after the runs: {logged['written']:,} rows written, "
            f"{logged['queued']:,} queued, dropped {logged['dropped'] or 'none'}"
        )

        _online_read(transactions)
        if not args.no_profile:
            worker = _worker_pid(bento.pid)
            for route, bodies, connections in (("score", single, 8), ("score_batch", batches, 1)):
                url = f"http://127.0.0.1:{ports['bento']}/{route}"
                shares = _profile(worker, url, bodies, key, 8, connections)
                if shares:
                    total = sum(shares.values())
                    print(f"\nwhere a /{route} request's time goes in the fraud_scorer worker (py-spy, {connections} "
                          "connections):")  # fmt: skip
                    for category, count in shares.most_common():
                        print(f"  {category:50s} {100 * count / total:5.1f} %")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        stack.down()


def _model_records(transactions: list[dict], settings, name: str, version: str) -> list[dict]:  # noqa: ANN001
    """What `mlflow models serve` is sent: the model's inputs, as the read plan computes them."""
    from gyre.registry.models import onnx_for
    from gyre.serving.features import OnlineFeatures
    from gyre.serving.model import load_version
    from gyre.serving.schema import Transaction

    model = load_version(name, "champion", onnx_for)
    rows = OnlineFeatures(settings)([Transaction(**t) for t in transactions]).rows
    return [model.model_input(row) for row in rows]


def _online_read(transactions: list[dict]) -> None:
    """One transaction's entities, in process: Gyre's read plan against Feast's own get_online_features."""
    from gyre.config import get_settings
    from gyre.serving.features import OnlineFeatures, sdk_features
    from gyre.serving.schema import Transaction

    features = OnlineFeatures(get_settings())
    parsed = [Transaction(**t) for t in transactions]
    timings: dict[str, list[float]] = {"plan": [], "sdk": []}
    for i in range(1000):
        one = [parsed[i % len(parsed)]]
        began = time.perf_counter()
        features(one)
        timings["plan"].append(time.perf_counter() - began)
        if i < 300:
            began = time.perf_counter()
            sdk_features(one, features)
            timings["sdk"].append(time.perf_counter() - began)
    (p50, p99), (s50, s99) = _percentiles(timings["plan"][100:]), _percentiles(timings["sdk"][30:])
    print("\nonline read of one transaction's customer and merchant (in process, ms):")
    print(f"  Gyre read plan (one Redis round trip, columnar on-demand view)  p50 {p50:6.3f}  p99 {p99:6.3f}")
    print(f"  Feast get_online_features (FeatureService, pandas on-demand view) p50 {s50:6.3f}  p99 {s99:6.3f}")
    print(f"  ratio (p50): {s50 / p50:.1f}x")


if __name__ == "__main__":
    main()
