"""A 30-day backfill of the features stage, and online lookup latency through the SDK and the feature server.

On a private stack (embedded Postgres, Redis and `feast serve` as `gyre up` starts them): generate the
days' landing files, load them (ingest), compute each day's feature rows, materialize each day into Redis
(rows/s = entities written per second), check freshness and skew per day; then time online lookups of 1
and 100 transactions through `gyre.features.online.online_features` (the Feast SDK in process) and through
the feature server's HTTP API (one keep-alive client), side by side.

    .venv/bin/python bench/features.py [--days 30] [--start 2026-03-01] [--lookups 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def _requests(start: dt.date, days: int, size: int, count: int) -> list[list[dict]]:
    """``count`` lookups of ``size`` real transactions each (entities known online), at the backfill's end."""
    import pandas as pd

    from gyre.db import engine

    with engine().connect() as connection:
        rows = pd.read_sql(
            "select customer_id, merchant_id, amount::double precision as amount, merchant_country, customer_country,"
            " channel, mcc, card_age_days from transactions order by transaction_id",
            connection,
        )
    at = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(), tzinfo=dt.UTC)
    rows["event_timestamp"] = at
    records = rows.sample(n=min(len(rows), size * count), replace=len(rows) < size * count, random_state=1)
    flat = records.to_dict("records")
    return [flat[i * size : (i + 1) * size] for i in range(count)]


def _http_body(batch: list[dict], service: str) -> dict:
    columns = {name: [row[name] for row in batch] for name in batch[0]}
    columns["event_timestamp"] = [int(row["event_timestamp"].timestamp()) for row in batch]
    columns["card_age_days"] = [None if v is None else float(v) for v in columns["card_age_days"]]
    return {"feature_service": service, "entities": columns}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 1))
    parser.add_argument("--lookups", type=int, default=500, help="timed lookups per size and path")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gyre-bench-features-"))
    os.environ["GYRE_HOME"] = str(home)
    from gyre.services.process import free_port

    for name in ("POSTGRES", "REDIS", "FEAST", "MLFLOW"):
        os.environ[f"GYRE_{name}_PORT"] = str(free_port())
    import httpx

    from gyre.config import get_settings
    from gyre.data.writer import write_day
    from gyre.features.compute import compute_interval, day_interval
    from gyre.features.materialize import check_freshness, check_skew, materialize_interval
    from gyre.features.online import online_features
    from gyre.features.store import feature_store
    from gyre.ingest.load import ingest
    from gyre.services.credentials import load_or_create
    from gyre.services.supervisor import Supervisor

    settings = get_settings()
    began = time.perf_counter()
    supervisor = Supervisor(settings, only=("postgres", "redis", "feast"), report=lambda _: None)
    supervisor.up()
    print(f"stack (postgres, redis, feast serve with apply) up in {time.perf_counter() - began:.1f} s")
    try:
        days = [args.start + dt.timedelta(days=i) for i in range(args.days)]
        timings: dict[str, float] = {}

        def timed(name: str, work):  # noqa: ANN001, ANN202
            t = time.perf_counter()
            result = work()
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
            return result

        for day in days:
            timed("generate", lambda day=day: write_day(settings.landing, day, seed=42))
        transactions = 0
        for day in days:
            transactions += timed("ingest", lambda day=day: ingest("transactions", day, publish_docs=False)).rows_loaded
            timed("ingest", lambda day=day: ingest("labels", day, publish_docs=False))
        computed = [timed("compute", lambda day=day: compute_interval(*day_interval(day))) for day in days]
        store = feature_store(settings, fresh=True)
        written = 0
        for day in days:
            written += timed("materialize", lambda day=day: materialize_interval(*day_interval(day), store)).entities
        for day in days:
            timed("freshness", lambda day=day: check_freshness(*day_interval(day), store))
            timed("skew", lambda day=day: check_skew(*day_interval(day), store, settings))
        print(
            f"{args.days}-day backfill: {transactions:,} transactions, "
            f"{sum(c.customer_rows for c in computed):,} customer and {sum(c.merchant_rows for c in computed):,} "
            "merchant feature rows (one per entity and day it transacted)"
        )
        for name, seconds in timings.items():
            print(f"  {name:12} {seconds:7.1f} s")
        backfill = sum(v for k, v in timings.items() if k in ("compute", "materialize", "freshness", "skew"))
        print(f"  features stage total (compute + materialize + checks): {backfill:.1f} s")
        print(
            f"  materialization: {written:,} entity rows into Redis in {timings['materialize']:.1f} s = "
            f"{written / timings['materialize']:,.0f} rows/s"
        )

        url = f"http://{settings.bind_host}:{settings.feast_port}/get-online-features"
        print(f"online lookup latency, {args.lookups} lookups each (ms)")
        key = load_or_create(settings.home)[0].feature_server_api_key
        with httpx.Client(timeout=30, headers={"X-API-Key": key}) as client:
            for size in (1, 100):
                batches = _requests(args.start, args.days, size, args.lookups + 20)
                sdk, http = [], []
                for i, batch in enumerate(batches):
                    t = time.perf_counter()
                    frame = online_features(batch, store, settings)
                    if i >= 20:  # warm-up excluded
                        sdk.append(time.perf_counter() - t)
                    assert len(frame) == size
                    body = _http_body(batch, settings.feature_service)
                    t = time.perf_counter()
                    response = client.post(url, json=body)
                    if i >= 20:
                        http.append(time.perf_counter() - t)
                    response.raise_for_status()
                (s50, s99), (h50, h99) = _percentiles(sdk), _percentiles(http)
                print(
                    f"  {size:>3} entities: SDK p50 {s50:6.2f} p99 {s99:6.2f} | feature server p50 {h50:6.2f} "
                    f"p99 {h99:6.2f} | server/SDK p50 {h50 / s50:4.2f}x p99 {h99 / s99:4.2f}x"
                )
    finally:
        supervisor.down()


if __name__ == "__main__":
    main()
