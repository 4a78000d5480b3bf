"""The streaming feature path on the real Redis and Postgres: a replayed day through the stream and the consumer
gives online exactly the rows the batch backfill writes offline; redelivery and replay change nothing; bad
events are dead-lettered with their reason; a consumer killed with SIGKILL and a restarted Redis lose and
duplicate nothing.

Each test works on its own stream and its own entity ids (a prefix on the generator's ids), in 2042, which no
other test uses: the offline tables and the online store hold nothing else for them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis
import sqlalchemy as sa

pytestmark = pytest.mark.integration

DAY1 = dt.date(2042, 5, 1)
DAY2 = dt.date(2042, 5, 2)
UTC = dt.UTC


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=UTC)


def _load(prefix: str, days: list[dt.date], per_day: int | None = None) -> pd.DataFrame:
    """The generator's transactions of ``days`` with every id prefixed, inserted into ``transactions``."""
    from gyre.data import source
    from gyre.db import engine
    from gyre.streaming.backfill import ensure_schema

    ensure_schema()
    frames = []
    for day in days:
        frame = source.export(source.transactions(42, day), 42, day, "baseline")
        frames.append(frame.head(per_day) if per_day else frame)
    frame = pd.concat(frames, ignore_index=True)
    for column in ("transaction_id", "customer_id", "merchant_id"):
        frame[column] = prefix + frame[column]
    rows = [
        {**row, "event_timestamp": row["event_timestamp"].to_pydatetime(), "source_file": "test_streaming",
         "line_number": i}
        for i, row in enumerate(frame.to_dict("records"))
    ]  # fmt: skip
    with engine().begin() as connection:
        connection.execute(
            sa.text(
                "insert into transactions (transaction_id, event_timestamp, customer_id, merchant_id, mcc, "
                "merchant_country, customer_country, channel, card_age_days, amount, currency, source_file, "
                "line_number) values (:transaction_id, :event_timestamp, :customer_id, :merchant_id, :mcc, "
                ":merchant_country, :customer_country, :channel, :card_age_days, :amount, :currency, :source_file, "
                ":line_number)"
            ),
            rows,
        )
    return frame


def _offline(prefix: str, day: dt.date) -> dict[tuple[str, str, str], tuple]:
    """(kind, entity, transaction) -> (available_at, values) of the backfill's rows of ``day``."""
    from gyre.db import engine
    from gyre.streaming.aggregate import ENTITIES

    start = _start(day)
    out = {}
    with engine().connect() as connection:
        for entity in ENTITIES:
            result = connection.execute(
                sa.text(
                    f"select {entity.key}, transaction_id, event_timestamp, {', '.join(entity.features)} "
                    f"from {entity.kind}_intraday_features where transaction_at >= :start and transaction_at < :end "
                    f"and {entity.key} like :prefix"
                ),
                {"start": start, "end": start + dt.timedelta(days=1), "prefix": prefix + "%"},
            )
            for row in result:
                out[(entity.kind, row[0], row[1])] = (row[2], tuple(row[3:]))
    return out


class FeatureRecorder:
    """The consumer's scorer with the model left out: what the endpoint's own online read (FeatureService
    ``fraud_model_v2``, from the real Redis) gives each transaction at the moment it would be scored."""

    def __init__(self) -> None:
        from gyre.config import get_settings
        from gyre.serving.features import OnlineFeatures

        self.features = OnlineFeatures(get_settings().model_copy(update={"feature_service": "fraud_model_v2"}))
        self.seen: dict[str, list[dict]] = {}

    def score(self, transactions: list, held: list) -> list[dict]:
        rows = self.features(transactions, held).rows
        for transaction, row in zip(transactions, rows, strict=True):
            self.seen.setdefault(transaction.transaction_id, []).append(row)
        return rows


class Parts:
    """A stream, its state and a consumer of their own, on the session's Redis, pushing through Feast."""

    def __init__(self, client: redis.Redis, store, batch: int = 500, scorer=None) -> None:  # noqa: ANN001
        from gyre.streaming.consumer import Consumer
        from gyre.streaming.sink import FeastSink
        from gyre.streaming.state import StateStore
        from gyre.streaming.stream import RedisStream

        self.name = f"test:stream:{uuid.uuid4().hex[:8]}"
        self.stream = RedisStream(client, self.name, "features")
        self.stream.ensure_group()
        self.state = StateStore(client, self.name, 3600)
        self.consumer = Consumer(
            self.stream, self.state, FeastSink(store), "c1", batch=batch, block_ms=50, scorer=scorer
        )

    def drain(self) -> Counter:
        totals: Counter = Counter()
        while True:
            step = self.consumer.step()
            if not step.read:
                return totals
            totals.update(applied=step.applied, duplicates=step.duplicates, dead_letters=step.dead_letters)


@pytest.fixture(scope="module")
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture(scope="module")
def store(database_url: str, redis_url: str):
    from gyre.features.materialize import apply_if_changed
    from gyre.features.store import feature_store

    began = time.perf_counter()
    apply_if_changed()
    print(f"feast apply {time.perf_counter() - began:.1f} s")
    return feature_store(fresh=True)


@pytest.fixture(scope="module")
def replayed(client: redis.Redis, store) -> dict:
    """Day 1 as history, day 2 backfilled offline and streamed through the consumer from day-1 state."""
    from gyre.streaming.backfill import backfill_interval, seed_state
    from gyre.streaming.replay import publish_between

    prefix = f"P{uuid.uuid4().hex[:4]}-"
    t0 = time.perf_counter()
    frame = _load(prefix, [DAY1, DAY2])
    start = _start(DAY2)
    t1 = time.perf_counter()
    backfill_interval(start, start + dt.timedelta(days=1))
    t2 = time.perf_counter()
    parts = Parts(client, store, scorer=FeatureRecorder())
    seed_state(start, parts.state)
    published = publish_between(parts.stream, start, start + dt.timedelta(days=1))
    print(f"load {t1 - t0:.2f} s, backfill {t2 - t1:.2f} s, seed and publish {time.perf_counter() - t2:.2f} s")
    began = time.perf_counter()
    totals = parts.drain()
    seconds = time.perf_counter() - began
    print(f"consumed {published} events in {seconds:.2f} s ({published / seconds:.0f}/s)")
    day2 = frame[frame["event_timestamp"] >= pd.Timestamp(start)]
    return {"prefix": prefix, "parts": parts, "totals": totals, "day2": day2, "published": published}


def test_stream_rows_equal_backfill_rows_row_by_row(replayed: dict, store) -> None:
    from gyre.features.online import feature_service  # noqa: F401  (the service cache is not used here)
    from gyre.streaming.aggregate import ENTITIES

    day2, parts, prefix = replayed["day2"], replayed["parts"], replayed["prefix"]
    assert replayed["published"] == len(day2) > 2000
    assert replayed["totals"] == Counter(applied=len(day2), duplicates=0, dead_letters=0)
    offline = _offline(prefix, DAY2)
    assert len(offline) == 2 * len(day2)
    streamed = parts.state.rows_of(day2["transaction_id"].tolist())
    assert len(streamed) == len(day2)
    compared = 0
    for transaction_id, rows in streamed.items():
        for row in rows:
            available, values = offline[(row.entity.kind, row.entity_id, transaction_id)]
            assert row.available_at == available, (transaction_id, row.entity.kind)
            assert row.values == values, (transaction_id, row.entity.kind)
            compared += 1
    assert compared == 2 * len(day2)

    # Online (Feast, from Redis) equals each entity's last offline row of the day, value for value.
    for entity in ENTITIES:
        last = {}
        for (kind, entity_id, _), (available, values) in offline.items():
            if kind == entity.kind and (entity_id not in last or available > last[entity_id][0]):
                last[entity_id] = (available, values)
        ids = sorted(last)
        response = store.get_online_features(
            features=[f"{entity.kind}_intraday:{name}" for name in entity.features],
            entity_rows=[{entity.key: i} for i in ids],
        ).to_dict()
        for name_index, name in enumerate(entity.features):
            online = response[name]
            expected = [last[i][1][name_index] for i in ids]
            assert online == expected, (entity.kind, name)


def test_each_event_is_scored_on_the_state_before_it_as_training_sees_it(replayed: dict) -> None:
    """What the consumer's scorer read for each transaction equals Feast's point-in-time row for it in the
    offline store (the entity's previous row of the day, or none): intraday skew between serving and training."""
    from gyre.streaming.aggregate import ENTITIES

    day2, prefix = replayed["day2"], replayed["prefix"]
    seen = replayed["parts"].consumer.scorer.seen
    assert len(seen) == len(day2) and all(len(rows) == 1 for rows in seen.values())
    history: dict[tuple[str, str], list[tuple]] = {}
    for (kind, entity_id, _), (available, values) in _offline(prefix, DAY2).items():
        history.setdefault((kind, entity_id), []).append((available, values))
    for rows in history.values():
        rows.sort(key=lambda r: r[0])
    compared = 0
    for transaction in day2.itertuples():
        (row,) = seen[transaction.transaction_id]
        for entity in ENTITIES:
            earlier = [v for a, v in history[(entity.kind, getattr(transaction, entity.key))]
                       if a <= transaction.event_timestamp]  # fmt: skip
            for i, name in enumerate(entity.features):
                if name in row:
                    assert row[name] == (earlier[-1][i] if earlier else None), (transaction.transaction_id, name)
                    compared += 1
    assert compared > 10 * len(day2)


def test_training_join_sees_the_state_serving_reads(replayed: dict, store) -> None:
    """Feast's point-in-time join over the backfill's rows, at the day's end, gives what Redis serves."""
    from gyre.streaming.aggregate import CUSTOMER, MERCHANT

    day2 = replayed["day2"].tail(40)
    at = _start(DAY2) + dt.timedelta(days=1)
    entity_df = pd.DataFrame(
        {"customer_id": day2["customer_id"].to_numpy(), "merchant_id": day2["merchant_id"].to_numpy(),
         "event_timestamp": pd.Timestamp(at)}
    )  # fmt: skip
    features = [f"customer_intraday:{n}" for n in CUSTOMER.features] + [
        f"merchant_intraday:{n}" for n in MERCHANT.features
    ]
    offline = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    offline = offline.sort_values(["customer_id", "merchant_id"]).reset_index(drop=True)
    online = pd.DataFrame(
        store.get_online_features(
            features=features, entity_rows=entity_df[["customer_id", "merchant_id"]].to_dict("records")
        ).to_dict()
    )
    online = online.sort_values(["customer_id", "merchant_id"]).reset_index(drop=True)
    for name in [*CUSTOMER.features, *MERCHANT.features]:
        assert offline[name].astype(float).tolist() == online[name].astype(float).tolist(), name


def test_redelivery_and_replay_change_nothing(replayed: dict, client: redis.Redis) -> None:
    from gyre.streaming.replay import publish_between

    parts, day2 = replayed["parts"], replayed["day2"]
    keys = sorted(client.scan_iter(f"{parts.name}:state:*", count=1000))
    before = dict(zip(keys, client.mget(keys), strict=True))
    # The whole day again (a replay), then a batch read and left unacknowledged (a consumer lost before its
    # ack), taken over by another consumer.
    start = _start(DAY2)
    publish_between(parts.stream, start, start + dt.timedelta(days=1))
    assert parts.drain() == Counter(applied=0, duplicates=len(day2), dead_letters=0)
    parts.stream.publish([{k: str(v) for k, v in row.items() if k != "event_timestamp"}
                          | {"event_timestamp": row["event_timestamp"].isoformat()}
                          for row in day2.head(30).to_dict("records")])  # fmt: skip
    lost = parts.stream.read("lost", 30, 50)
    assert len(lost) == 30
    time.sleep(0.2)
    claimed = parts.stream.claim_stale("c2", 100, 100)
    assert [m.id for m in claimed] == [m.id for m in lost]
    assert all(m.deliveries == 2 for m in claimed)
    time.sleep(0.2)
    parts.consumer.claim_idle_ms = 100
    parts.consumer._next_claim = 0.0
    parts.consumer.stream._claim_cursor = "0-0"
    assert parts.drain() == Counter(applied=0, duplicates=30, dead_letters=0)
    assert parts.stream.backlog() == (0, 0)
    after = dict(zip(keys, client.mget(keys), strict=True))
    assert after == before
    assert all(len(rows) == 1 for rows in parts.consumer.scorer.seen.values())  # nothing scored twice


def test_a_late_or_redelivered_event_never_moves_the_online_row_backwards(client: redis.Redis, store) -> None:
    """The sink writes without reading what Redis holds (Feast's ``skip_dedup``): the committed state alone says
    which row is an entity's newest. A late event and a redelivered old one leave the newest row online."""
    from gyre.streaming.aggregate import CUSTOMER
    from gyre.streaming.events import to_fields

    parts = Parts(client, store, batch=10)
    customer = f"LATE-{uuid.uuid4().hex[:6]}"
    at = dt.datetime(2042, 6, 3, 10, tzinfo=UTC)

    def event(tid: str, minutes: int, amount: float, merchant: str = "M") -> dict[str, str]:
        return to_fields({"transaction_id": f"{customer}-{tid}", "customer_id": customer,
                          "merchant_id": f"{customer}-{merchant}", "amount": amount,
                          "event_timestamp": at + dt.timedelta(minutes=minutes), "mcc": "5411",
                          "merchant_country": "DE", "customer_country": "DE", "channel": "pos",
                          "card_age_days": 100, "currency": "EUR"})  # fmt: skip

    def online() -> list:
        response = store.get_online_features(
            features=[f"customer_intraday:{name}" for name in CUSTOMER.features],
            entity_rows=[{"customer_id": customer}],
        ).to_dict()
        return [response[name][0] for name in CUSTOMER.features]

    parts.stream.publish([event("a", 0, 10.0), event("b", 50, 20.0)])
    parts.drain()
    (newest,) = [r for r in parts.state.rows_of([f"{customer}-b"])[f"{customer}-b"] if r.entity == CUSTOMER]
    assert online() == list(newest.values)
    # Applied (it counts in later windows) but not the customer's newest: only its new merchant's row is written.
    parts.stream.publish([event("late", 20, 400.0, merchant="N")])
    assert parts.consumer.step().pushed == 1
    parts.stream.publish([event("a", 0, 10.0)])  # a redelivery of the oldest
    assert parts.consumer.step().pushed == 0
    assert online() == list(newest.values)


def test_malformed_events_are_dead_lettered_with_reason(client: redis.Redis, store) -> None:
    from gyre.streaming.stream import REASON_FIELD

    parts = Parts(client, store)
    good = {"transaction_id": "DL-1", "customer_id": "DLC1", "merchant_id": "DLM1",
            "event_timestamp": "2042-06-01T10:00:00+00:00", "amount": "12.50", "channel": "pos", "mcc": "5411",
            "merchant_country": "DE", "customer_country": "DE", "card_age_days": "100", "currency": "EUR"}  # fmt: skip
    bad = [
        {**good, "transaction_id": "DL-2", "amount": "-5"},
        {k: v for k, v in good.items() if k != "customer_id"} | {"transaction_id": "DL-3"},
        {**good, "transaction_id": "DL-4", "event_timestamp": "yesterday"},
        {**good, "transaction_id": "DL-5", "surprise": "1"},
    ]
    parts.stream.publish([bad[0], good, *bad[1:]])
    assert parts.drain() == Counter(applied=1, duplicates=0, dead_letters=4)
    letters = {m.fields["transaction_id"]: m.fields[REASON_FIELD] for m in parts.stream.dead_letters()}
    assert set(letters) == {"DL-2", "DL-3", "DL-4", "DL-5"}
    assert letters["DL-2"].startswith("amount: Input should be greater than or equal to 0.01")
    assert letters["DL-3"] == "customer_id: Field required"
    assert letters["DL-4"].startswith("event_timestamp: Input should be a valid datetime")
    assert letters["DL-5"] == "surprise: Extra inputs are not permitted"
    assert parts.stream.backlog() == (0, 0)
    metric = parts.consumer.metrics.events.labels("dead_letter")._value.get()
    assert metric == 4
    assert parts.state.rows_of(["DL-1", "DL-2"]).keys() == {"DL-1"}


def test_commit_conflict_scores_nothing_twice_and_reads_older_done_marks(client: redis.Redis) -> None:
    """The state's read tells what to score: another consumer commits one of the events between that read and
    the commit (a done mark as the stdlib's JSON wrote them before orjson), so the EXEC fails and the batch is
    re-read; nothing already handed to the scorer is handed again, and the other's event comes back with its rows."""
    import json

    from gyre.streaming.aggregate import Event, run
    from gyre.streaming.state import StateStore

    state = StateStore(client, f"test:state:{uuid.uuid4().hex[:8]}", 3600)
    at = dt.datetime(2042, 6, 2, 9, tzinfo=UTC)
    first, second = Event("CC-1", "CCC1", "CCM1", at, 10.0), Event("CC-2", "CCC2", "CCM2", at, 20.0)
    theirs = list(run([second]))
    handed: list[list[str]] = []

    def score(fresh: list, rows_of: dict) -> None:  # noqa: ANN001
        handed.append([e.transaction_id for e in fresh])
        if len(handed) == 1:  # the other consumer commits ``second`` between our read and commit
            mark = [[r.entity.kind, r.entity_id, r.transaction_at.isoformat(), r.available_at.isoformat(),
                     list(r.values)] for r in theirs]  # fmt: skip
            client.set(state.done_key("CC-2"), json.dumps(mark, separators=(",", ":")))

    applied = state.apply([first, second], before_commit=score)
    assert handed == [["CC-1", "CC-2"]]
    assert (applied.applied, applied.duplicates, applied.retries) == (1, 1, 1)
    assert [r for r in applied.rows if r.transaction_id == "CC-2"] == theirs
    assert state.apply([first, second], before_commit=score).duplicates == 2
    assert len(handed) == 1  # all done: the scorer is not called at all


def test_commit_conflict_on_a_shared_entity_applies_the_batch_again_on_the_new_state(client: redis.Redis) -> None:
    """Another consumer commits an event of the same customer between the state's read and the commit: the commit
    fails instead of overwriting that state, and the batch is applied again on top of it, so both count."""
    from gyre.streaming.aggregate import Event
    from gyre.streaming.state import StateStore

    prefix = f"test:state:{uuid.uuid4().hex[:8]}"
    ours, theirs = StateStore(client, prefix, 3600), StateStore(client, prefix, 3600)
    at = dt.datetime(2042, 6, 3, 9, tzinfo=UTC)
    mine, other = (
        Event("SC-2", "SCC1", "SCM1", at, 20.0),
        Event("SC-1", "SCC1", "SCM2", at - dt.timedelta(hours=2), 5.0),
    )
    calls: list[int] = []

    def meanwhile(fresh: list, rows_of: dict) -> None:  # noqa: ANN001
        calls.append(len(fresh))
        if len(calls) == 1:
            assert theirs.apply([other]).applied == 1

    applied = ours.apply([mine], before_commit=meanwhile)
    assert (applied.applied, applied.retries, calls) == (1, 1, [1])
    customer = next(r for r in applied.rows if r.entity.kind == "customer")
    assert customer.values[2:4] == (2, 2)  # 7-day and 30-day counts include the other consumer's event
    assert customer.values[6:8] == (25.0, 25.0)
    assert ours.apply([mine, other]).duplicates == 2


def _consumer_process(env: dict[str, str], name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gyre.streaming", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_consumer_killed_mid_batch_loses_and_duplicates_nothing(client: redis.Redis, store) -> None:
    """A real consumer process, SIGKILLed while a batch is delivered and unacknowledged; its successor (another
    name) takes that batch over with XAUTOCLAIM. Every transaction is applied once: the rows equal the backfill's."""
    from gyre.services.process import free_port
    from gyre.streaming.backfill import backfill_interval
    from gyre.streaming.replay import publish_between
    from gyre.streaming.state import StateStore
    from gyre.streaming.stream import RedisStream

    prefix = f"K{uuid.uuid4().hex[:4]}-"
    day = DAY1 + dt.timedelta(days=5)
    frame = _load(prefix, [day], per_day=1200)
    start = _start(day)
    backfill_interval(start, start + dt.timedelta(days=1))
    name = f"test:stream:{uuid.uuid4().hex[:8]}"
    stream = RedisStream(client, name, "intraday-features")
    stream.ensure_group()
    state = StateStore(client, name, 3600)
    assert publish_between(stream, start, start + dt.timedelta(days=1)) == len(frame)
    port = free_port()
    # Features only (no scorer): what is killed and taken over here is the aggregates' commit and push.
    env = {**os.environ, "GYRE_STREAM_NAME": name, "GYRE_STREAM_BATCH": "40", "GYRE_STREAM_CLAIM_IDLE_MS": "300",
           "GYRE_STREAM_METRICS_PORT": str(port), "GYRE_STREAM_SCORE": "false"}  # fmt: skip
    first = _consumer_process(env, "first")
    metrics = ""
    try:
        # Killed while a batch is delivered and not acknowledged: the process is frozen (SIGSTOP) to look at the
        # group, so what is seen pending is still pending when SIGKILL lands; thawed and looked at again if not.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not metrics:
                with contextlib.suppress(httpx.HTTPError):
                    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert first.poll() is None, first.stderr.read()
            os.kill(first.pid, signal.SIGSTOP)
            lag, pending = stream.backlog()
            if metrics and pending and 0 < lag <= len(frame) - 200:
                break
            os.kill(first.pid, signal.SIGCONT)
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    lag, pending = stream.backlog()
    assert pending > 0 and 0 < lag < len(frame), "killed outside a batch: the test proves nothing"
    # Restarted under another name: it takes the dead one's pending batch over with XAUTOCLAIM.
    from gyre.streaming.consumer import Consumer
    from gyre.streaming.sink import FeastSink

    second = Consumer(stream, state, FeastSink(store), "second", batch=200, block_ms=50, claim_idle_ms=300)
    time.sleep(0.3)
    totals = Counter()
    while stream.backlog() != (0, 0):
        step = second.step()
        totals.update(applied=step.applied, duplicates=step.duplicates)
    assert second.metrics.claimed._value.get() >= pending
    assert totals["applied"] + totals["duplicates"] >= pending + lag
    assert "gyre_stream_events_total" in metrics
    streamed = state.rows_of(frame["transaction_id"].tolist())
    assert len(streamed) == len(frame)
    offline = _offline(prefix, day)
    for transaction_id, rows in streamed.items():
        for row in rows:
            assert (row.available_at, row.values) == offline[(row.entity.kind, row.entity_id, transaction_id)]
    # No duplicate: each customer's state holds exactly its transactions.
    from gyre.streaming.aggregate import State

    per_customer = frame.groupby("customer_id").size()
    for customer_id, count in per_customer.head(50).items():
        assert len(State.loads(client.get(state.state_key("customer", customer_id))).times) == count
    print(f"killed with {pending} pending and {lag} undelivered of {len(frame)}")


def test_redis_restart_with_append_only_file_resumes_from_group_position(store) -> None:
    """A private Redis (its own home and port), stopped and started again on its append-only file."""
    from gyre.config import load_settings
    from gyre.services.credentials import load_or_create
    from gyre.services.endpoints import redis_url
    from gyre.services.process import free_port, wait_ready
    from gyre.services.redis import EmbeddedRedis
    from gyre.streaming.consumer import Consumer
    from gyre.streaming.sink import FeastSink
    from gyre.streaming.state import StateStore
    from gyre.streaming.stream import RedisStream

    home = Path(tempfile.mkdtemp(prefix="gyre-aof-"))
    settings = load_settings(home=home, redis_port=free_port())
    creds, _ = load_or_create(home)
    server = EmbeddedRedis(settings, creds)
    server.prepare()

    def start() -> list:
        processes = server.processes()
        for process in processes:
            process.start()
        wait_ready(processes, server.ready, 30)
        return processes

    def parts() -> tuple[redis.Redis, RedisStream, Consumer]:
        client = redis.Redis.from_url(redis_url(settings))
        stream = RedisStream(client, "aof:stream", "features")
        consumer = Consumer(stream, StateStore(client, "aof", 3600), FeastSink(store), "c1", batch=50, block_ms=50)
        return client, stream, consumer

    processes = start()
    try:
        client, stream, consumer = parts()
        stream.ensure_group()
        events = [{"transaction_id": f"AOF-{i}", "customer_id": f"AOFC{i % 7}", "merchant_id": f"AOFM{i % 3}",
                   "event_timestamp": f"2042-07-01T10:{i // 60:02d}:{i % 60:02d}+00:00", "amount": f"{i + 1}.25",
                   "channel": "pos", "mcc": "5411", "merchant_country": "DE", "customer_country": "DE",
                   "card_age_days": "30"} for i in range(200)]  # fmt: skip
        ids = stream.publish(events)
        assert consumer.step().applied == 50 and consumer.step().applied == 50
        lost = stream.read("gone", 20, 50)  # delivered, never acked: must still be pending after the restart
        client.close()
        for process in processes:
            process.stop()
        processes = start()
        client, stream, consumer = parts()
        groups = {g["name"].decode(): g for g in client.xinfo_groups("aof:stream")}
        assert groups["features"]["last-delivered-id"].decode() == ids[119]
        assert groups["features"]["pending"] == 20
        consumer._next_claim = time.monotonic() + 3600  # leave the lost batch pending until the end
        applied = 0
        while step := consumer.step():
            if not step.read:
                break
            applied += step.applied
        assert applied == 80
        consumer.claim_idle_ms = 0
        consumer._next_claim = 0.0
        step = consumer.step()
        assert (step.read, step.applied, step.duplicates) == (20, 20, 0)
        assert [m.id for m in lost] == ids[100:120]
        assert stream.backlog() == (0, 0)
        state = StateStore(client, "aof", 3600)
        assert len(state.rows_of([e["transaction_id"] for e in events])) == 200
        from gyre.streaming.aggregate import State

        counts = [len(State.loads(client.get(state.state_key("customer", f"AOFC{c}"))).times) for c in range(7)]
        assert sum(counts) == 200
    finally:
        for process in processes:
            process.stop()
