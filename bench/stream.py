"""The streaming feature path: events/s the consumer sustains, and freshness at a steady 1,000 events/s.

On a private stack (embedded Postgres for Feast's registry, Redis for the stream, the state and the online
store): the generator's transactions are published to a Redis stream and consumed by
``gyre.streaming.consumer.Consumer`` in this process, which commits the aggregates exactly once and pushes
them through Feast. Each figure is measured twice in the same run: batched (``GYRE_STREAM_BATCH``, each
entity's newest row pushed once per batch) and per event (batch of one: one read, commit and Feast push per
transaction), the obvious way to write a consumer. The goal (5,000 events/s) is for the batched consumer scoring each
event with the champion (``GYRE_STREAM_SCORE``, the default): a ``Runtime`` reading ``fraud_model_v2`` online, a small
model trained here in ONNX, and the prediction log in Postgres, best of three runs. With ``--before REF`` the
same scored runs, on the same events, are also made by the consumer of git revision ``REF`` (its ``include``, ``sql``
and ``feature_repo``, in a child process on the same stack), right after this one's: the ratio of the two.

Freshness is the time from an event's publish (just before its XADD) to the return of the Feast push that
wrote its rows to Redis, from which point `get_online_features` reads it; the publisher runs on a thread at
the target rate while the consumer drains on another.

Last, what the stream is worth to the model: test PR-AUC on the same days with day-old features, with the
stream's intraday features added (the consumer's aggregation code, joined point in time), and on
per-transaction state (``pr_auc``).

    .venv/bin/python bench/stream.py [--events 20000] [--per-event 1500] [--scored 10000] [--seconds 10] [--rate 1000]
                                     [--pr-auc-days 14] [--before a661f7e]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from revision import unpack


def _events(first: dt.date, count: int) -> list[dict[str, str]]:
    """``count`` generator transactions from ``first`` on, as stream fields, in event-time order."""
    from gyre.data import source
    from gyre.streaming.events import to_fields

    out: list[dict[str, str]] = []
    day = first
    while len(out) < count:
        frame = source.export(source.transactions(42, day), 42, day, "baseline")
        frame = frame.sort_values(["event_timestamp", "transaction_id"], kind="stable")
        out.extend(to_fields({**r, "event_timestamp": r["event_timestamp"].to_pydatetime()})
                   for r in frame.to_dict("records"))  # fmt: skip
        day += dt.timedelta(days=1)
    return out[:count]


class PushSink:
    """The alternative: ``FeatureStore.push`` of a DataFrame per intraday view (each entity's newest row)."""

    def __init__(self, store) -> None:  # noqa: ANN001
        self.store = store

    def push(self, rows) -> int:  # noqa: ANN001
        import pandas as pd
        from feast.data_source import PushMode

        from gyre.streaming.aggregate import ENTITIES

        pushed = 0
        for entity in ENTITIES:
            if group := [row for row in rows if row.entity == entity]:
                data = pd.DataFrame([r.values for r in group], columns=entity.features)
                data.insert(0, "event_timestamp", pd.to_datetime([r.available_at for r in group], utc=True))
                data.insert(0, entity.key, [r.entity_id for r in group])
                self.store.push(f"{entity.kind}_intraday_push", data, to=PushMode.ONLINE)
                pushed += len(group)
        return pushed


class TimedSink:
    """A sink, noting when each transaction's rows were written."""

    def __init__(self, store, via_push: bool) -> None:  # noqa: ANN001
        from gyre.streaming.sink import FeastSink

        self.inner = PushSink(store) if via_push else FeastSink(store)
        self.done: dict[str, float] = {}

    def push(self, rows) -> int:  # noqa: ANN001
        pushed = self.inner.push(rows)
        now = time.time()
        for row in rows:
            self.done.setdefault(row.transaction_id, now)
        return pushed


def _scorer(settings, out: Path):  # noqa: ANN001, ANN202
    """The champion ``Runtime`` the consumer scores with (online read of ``fraud_model_v2``, ONNX, prediction log
    to Postgres), on a small model trained here instead of one from the registry (outside the timings)."""
    from gyre.export.onnx import convert
    from gyre.serving.model import CHAMPION, ModelHolder
    from gyre.serving.runtime import Runtime
    from gyre.training.pipeline import build_pipeline
    from gyre.training.synthetic import fraud_frame

    frame = fraud_frame(dt.date(2025, 1, 6), 3)
    categorical = ["txn_channel", "txn_mcc"]
    keys = {"transaction_id", "customer_id", "merchant_id", "event_timestamp", "is_fraud"}
    numeric = [c for c in frame.columns if c not in keys and c not in categorical]
    pipeline = build_pipeline(numeric, categorical, settings.training_estimator)
    pipeline.fit(frame[numeric + categorical], frame["is_fraud"])
    path = out / "model.onnx"
    path.write_bytes(convert(pipeline, numeric, categorical))
    spec = {"numeric": numeric, "categorical": categorical}
    holder = ModelHolder(
        "bench",
        3600,
        resolve=lambda _name, _role: ("1", path, spec),
        version_of=lambda _name, role: "1" if role == CHAMPION else None,
    )
    runtime = Runtime.start(settings.model_copy(update={"feature_service": "fraud_model_v2"}), holder=holder)
    while runtime.holder.champion is None:
        time.sleep(0.05)
    return runtime


def _consumer(client, store, batch: int, via_push: bool, scorer=None):  # noqa: ANN001, ANN202
    from gyre.streaming.consumer import Consumer
    from gyre.streaming.state import StateStore
    from gyre.streaming.stream import RedisStream

    name = f"bench:{uuid.uuid4().hex[:8]}"
    stream = RedisStream(client, name, "bench")
    stream.ensure_group()
    sink = TimedSink(store, via_push)
    consumer = Consumer(stream, StateStore(client, name, 3600), sink, "bench", batch=batch, block_ms=20, scorer=scorer)
    return consumer, sink


def throughput(  # noqa: ANN001
    client, store, events: list[dict[str, str]], batch: int, via_push: bool = False, scorer=None
) -> float:
    consumer, _ = _consumer(client, store, batch, via_push, scorer)
    for i in range(0, len(events), 1000):
        consumer.stream.publish(events[i : i + 1000])
    began, cpu = time.perf_counter(), time.process_time()
    applied = scored = 0
    while applied < len(events):
        step = consumer.step()
        applied, scored = applied + step.applied, scored + step.scored
    seconds = time.perf_counter() - began
    if scorer is not None:
        if scored != len(events):
            raise RuntimeError(f"{scored} of {len(events)} events scored")
        # What a loaded machine disturbs least: this process's CPU (the consumer, the prediction-log writer).
        print(f"scored run: {len(events) / seconds:,.0f} events/s, {len(events) / (time.process_time() - cpu):,.0f} "
              "per CPU second of the consumer process")  # fmt: skip
    return len(events) / seconds


def best_scored(client, store, settings, home: Path, events: list[dict[str, str]]) -> float:  # noqa: ANN001
    """The best of three scored runs over thirds of ``events`` (after a warm-up on 200 more): the figure of a run
    the rest of the machine disturbed least."""
    runtime = _scorer(settings, home)
    try:
        throughput(client, store, events[:200], settings.stream_batch, scorer=runtime)  # the read plan, the model
        third = (len(events) - 200) // 3
        parts = [events[200 + i * third : 200 + (i + 1) * third] for i in range(3)]
        return max(throughput(client, store, part, settings.stream_batch, scorer=runtime) for part in parts)
    finally:
        runtime.stop()


def scored_before(ref: str, home: Path, events: list[dict[str, str]]) -> float:
    """``best_scored`` by the code of git revision ``ref``, in a child process on this process's stack."""
    into = home / "before"
    package = unpack(ref, into)
    (into / "events.json").write_bytes(orjson.dumps(events))
    child = subprocess.run(
        [sys.executable, __file__, "--scored-from", str(into / "events.json")],
        env={**os.environ, "PYTHONPATH": str(package)},
        capture_output=True,
        text=True,
    )
    if child.returncode:
        raise RuntimeError(f"the consumer at {ref} failed:\n{child.stderr[-3000:]}")
    *runs, best = child.stdout.strip().splitlines()
    print("\n".join(f"{ref}: {line}" for line in runs))
    return float(best)


def _scored_child(path: Path) -> None:
    """The ``--before`` child: prints ``best_scored`` over the events in ``path`` on the parent's stack."""
    import redis

    from gyre.config import get_settings
    from gyre.features.store import feature_store
    from gyre.services.endpoints import redis_url

    settings = get_settings()
    client = redis.Redis.from_url(redis_url(settings))
    print(
        best_scored(client, feature_store(settings, fresh=True), settings, path.parent, orjson.loads(path.read_bytes()))
    )


def freshness(  # noqa: ANN001
    client, store, events: list[dict[str, str]], batch: int, rate: float, via_push: bool = False
) -> tuple[float, float, float]:
    """p50 and p99 publish-to-online seconds, and the share of events online by the end."""
    consumer, sink = _consumer(client, store, batch, via_push)
    published: dict[str, float] = {}
    finished = threading.Event()

    def publish() -> None:
        began = time.monotonic()
        chunk = max(1, int(rate / 100))
        for i in range(0, len(events), chunk):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            part = events[i : i + chunk]
            now = time.time()
            for event in part:
                published[event["transaction_id"]] = now
            consumer.stream.publish(part)
        finished.set()

    publisher = threading.Thread(target=publish)
    publisher.start()
    deadline = None
    while True:
        consumer.step()
        if finished.is_set():
            deadline = deadline or time.monotonic() + 5
            if len(sink.done) >= len(events) or time.monotonic() > deadline:
                break
    publisher.join()
    latencies = sorted(sink.done[t] - published[t] for t in published if t in sink.done)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return statistics.median(latencies), p99, len(latencies) / len(events)


def pr_auc(days: int) -> dict[str, float]:
    """Test PR-AUC of the champion's pipeline on the same days (after a week of history), trained and tested on:
    the daily batch's day-old features (``fraud_model_v1``); those plus the stream's intraday features
    (``fraud_model_v2``: the consumer's own aggregation code over the same transactions, each joined point in
    time as Feast's join gives training, and the request-time seconds since each entity's previous transaction);
    and per-transaction state (``gyre.training.synthetic``'s intraday frame, the README's reference)."""
    import pandas as pd

    from gyre.config import load_settings
    from gyre.features.request import intraday_columns
    from gyre.streaming.aggregate import ENTITIES, Event, ordered, run
    from gyre.training.spec import FRAUD
    from gyre.training.synthetic import fraud_frame
    from gyre.training.train import fit

    first = dt.date(2026, 3, 1)
    since = pd.Timestamp(first + dt.timedelta(days=7), tz="UTC")
    day_old = fraud_frame(first, days + 7)
    events = ordered(Event(t.transaction_id, t.customer_id, t.merchant_id, t.event_timestamp.to_pydatetime(),
                           float(t.txn_amount)) for t in day_old.itertuples())  # fmt: skip
    rows = list(run(events))
    streamed = day_old.sort_values("event_timestamp", kind="stable")
    for entity in ENTITIES:
        mine = [r for r in rows if r.entity == entity]
        state = pd.DataFrame([r.values for r in mine], columns=entity.features)
        state.insert(0, "_at", pd.to_datetime([r.available_at for r in mine], utc=True))
        state.insert(0, entity.key, [r.entity_id for r in mine])
        # Point in time: each transaction gets the entity's newest row available at its instant (its own comes
        # a microsecond later), as Feast joins the offline rows the backfill writes.
        streamed = pd.merge_asof(streamed, state.sort_values("_at", kind="stable"), left_on="event_timestamp",
                                 right_on="_at", by=entity.key, direction="backward").drop(columns="_at")  # fmt: skip
    streamed = streamed.assign(**intraday_columns(streamed))
    streamed = streamed.drop(columns=[entity.features[-1] for entity in ENTITIES])  # v2 leaves the raw epoch out
    frames = {
        "day-old (fraud_model_v1)": day_old,
        "day-old + streamed intraday (fraud_model_v2)": streamed,
        "per-transaction state (reference)": fraud_frame(first, days + 7, intraday=True),
    }
    settings = load_settings()
    return {label: fit(frame[frame["event_timestamp"] >= since], FRAUD, settings).test.pr_auc
            for label, frame in frames.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="events for the batched throughput run")
    parser.add_argument("--per-event", type=int, default=1500, help="events for the per-event throughput run")
    parser.add_argument(
        "--scored", type=int, default=10_000, help="events for each of the three runs scoring each event"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each freshness run")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the freshness runs")
    parser.add_argument("--pr-auc-days", type=int, default=14, help="days of the PR-AUC comparison (0: skip it)")
    parser.add_argument("--before", help="git revision whose scored consumer to measure beside this one")
    parser.add_argument("--scored-from", type=Path, help=argparse.SUPPRESS)  # the --before child's events
    args = parser.parse_args()
    if args.scored_from:
        return _scored_child(args.scored_from)
    home = Path(tempfile.mkdtemp(prefix="gyre-bench-stream-"))
    os.environ["GYRE_HOME"] = str(home)
    from gyre.services.process import free_port

    for name in ("POSTGRES", "REDIS", "FEAST", "MLFLOW"):
        os.environ[f"GYRE_{name}_PORT"] = str(free_port())
    import redis

    from gyre.config import get_settings
    from gyre.features.materialize import apply_if_changed
    from gyre.features.store import feature_store
    from gyre.services.endpoints import redis_url
    from gyre.services.supervisor import Supervisor

    settings = get_settings()
    supervisor = Supervisor(settings, only=("postgres", "redis"), report=lambda _: None)
    supervisor.up()
    try:
        apply_if_changed(settings)
        store = feature_store(settings, fresh=True)
        client = redis.Redis.from_url(redis_url(settings))
        fresh_n = int(args.rate * args.seconds)
        count = 2 * args.events + args.per_event + 3 * args.scored + 3 * fresh_n + 400
        pool = iter(_events(dt.date(2026, 1, 1), count))

        def take(n: int) -> list[dict[str, str]]:
            return [next(pool) for _ in range(n)]

        batch = settings.stream_batch
        throughput(client, store, take(200), batch)  # warm Feast's registry cache
        rates = (
            throughput(client, store, take(args.events), batch),
            throughput(client, store, take(args.events), batch, via_push=True),
            throughput(client, store, take(args.per_event), 1, via_push=True),
        )
        scored_events = take(200 + 3 * args.scored)
        scored = best_scored(client, store, settings, home, scored_events)
        before = scored_before(args.before, home, scored_events) if args.before else None
        fresh = (
            freshness(client, store, take(fresh_n), batch, args.rate),
            freshness(client, store, take(fresh_n), batch, args.rate, via_push=True),
            freshness(client, store, take(fresh_n), 1, args.rate, via_push=True),
        )
        print(f"\nconsumer on {os.cpu_count()} cores, Redis {client.info()['redis_version']}")
        print(
            f"| measure | batched (batch {batch}), online_write_batch | batched, FeatureStore.push | "
            "per event, push | ratio to push (batched / per event) |"
        )
        print("|---|---|---|---|---|")
        print(
            f"| events/s sustained | {rates[0]:,.0f} | {rates[1]:,.0f} | {rates[2]:,.0f} | "
            f"{rates[0] / rates[1]:.1f}x / {rates[0] / rates[2]:.0f}x |"
        )
        print(f"| events/s sustained, each scored by the champion (batch {batch}) | {scored:,.0f} | | | |")
        if before is not None:
            print(f"| the same, by the consumer at {args.before} | {before:,.0f} | | | {scored / before:.2f}x |")
        cells = [f"{p50 * 1e3:.0f} ms / {p99 * 1e3:.0f} ms ({share:.0%} online)" for p50, p99, share in fresh]
        print(
            f"| freshness at {args.rate:,.0f}/s (p50 / p99) | {' | '.join(cells)} | "
            f"p99 {fresh[1][1] / fresh[0][1]:.1f}x / {fresh[2][1] / fresh[0][1]:.1f}x |"
        )
    finally:
        supervisor.down()
    if args.pr_auc_days:
        scores = pr_auc(args.pr_auc_days)
        reference = scores["per-transaction state (reference)"]
        print(f"\ntest PR-AUC on the same {args.pr_auc_days} days (after a week of history):")
        for label, value in scores.items():
            print(f"  {label}: {value:.4f} ({value - reference:+.4f} against the reference)")


if __name__ == "__main__":
    main()
