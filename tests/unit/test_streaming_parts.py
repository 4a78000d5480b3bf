"""The consumer's parts that need no Redis: the done marks' encoding, the sink's view cache, the retry of pending."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from feast.repo_config import RepoConfig

from gyre.streaming import sink as sink_module
from gyre.streaming.aggregate import CUSTOMER, ENTITIES, MERCHANT, Event, run
from gyre.streaming.sink import FeastSink, view_name
from gyre.streaming.state import _decode, _encode
from gyre.streaming.stream import RedisStream

AT = dt.datetime(2026, 3, 2, 12, 0, 0, 1, tzinfo=dt.UTC)


def test_done_marks_give_back_the_same_rows_bit_for_bit() -> None:
    events = [Event(f"t{i}", "c1", f"m{i % 2}", AT + dt.timedelta(seconds=i // 2), 0.1 * (i + 1)) for i in range(5)]
    rows = list(run(events))
    for transaction_id in {r.transaction_id for r in rows}:
        mine = [r for r in rows if r.transaction_id == transaction_id]
        assert _decode(transaction_id, _encode(mine)) == mine


class _Store:
    """Just what ``FeastSink.push`` touches of a FeatureStore, counting registry reads and writes."""

    def __init__(self) -> None:
        from feast.types import Float64, Int64

        self.reads = 0
        self.written: list[tuple[str, int]] = []
        self.config = RepoConfig(
            project="test",
            registry={"path": "/nonexistent/registry.db", "cache_ttl_seconds": 60},
            provider="local",
            online_store={"type": "redis", "connection_string": "127.0.0.1:1"},
            entity_key_serialization_version=3,
        )
        self.views = {
            view_name(e): SimpleNamespace(
                name=view_name(e),
                features=[SimpleNamespace(name=n, dtype=Int64 if "count" in n else Float64) for n in e.features],
            )
            for e in ENTITIES
        }

    def get_feature_view(self, name: str, allow_registry_cache: bool) -> Any:
        self.reads += 1
        return self.views[name]

    def _get_provider(self) -> Any:
        def write(config: Any, view: Any, records: list, progress: Any) -> None:
            self.written.append((view.name, len(records), config.online_store.skip_dedup))

        return SimpleNamespace(online_write_batch=write)


def test_the_sink_reads_each_view_once_per_registry_ttl(monkeypatch) -> None:  # noqa: ANN001
    clock = [1000.0]
    monkeypatch.setattr(sink_module.time, "monotonic", lambda: clock[0])
    store = _Store()
    sink = FeastSink(store)  # type: ignore[arg-type]
    rows = list(run([Event("t1", "c1", "m1", AT, 5.0), Event("t2", "c2", "m1", AT, 7.0)]))
    current = [r for r in rows if not (r.entity == MERCHANT and r.transaction_id == "t1")]  # c1, c2, m1's newest
    assert sink.push(current) == 3
    assert sink.push(current) == 3
    assert store.reads == 2  # one per view
    clock[0] += 61
    sink.push(current)
    assert store.reads == 4
    # Feast's writer is told the rows are the newest (no read of the stored timestamps); the store's own config
    # is untouched.
    assert store.written[:2] == [(view_name(CUSTOMER), 2, True), (view_name(MERCHANT), 1, True)]
    assert store.config.online_store.skip_dedup is False


class _Client:
    """XREADGROUP that records which position each read asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def xreadgroup(self, group: str, consumer: str, streams: dict, count: int, block: int | None = None) -> list:
        self.asked.extend(streams.values())
        return []


def test_a_failed_batch_makes_the_next_read_start_with_the_consumers_pending() -> None:
    client = _Client()
    stream = RedisStream(client, "s", "g")  # type: ignore[arg-type]
    stream.read("c1", 10, 0)
    stream.read("c1", 10, 0)
    stream.retry_own_pending("c1")
    stream.read("c1", 10, 0)
    assert client.asked == ["0", ">", ">", "0", ">"]
