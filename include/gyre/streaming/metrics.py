"""The consumer's Prometheus metrics, served on ``bind_host:GYRE_STREAM_METRICS_PORT`` (also its health check).

prometheus_client only: this module is imported before anything heavy, so the port answers within a second of
the process starting and `gyre up` sees the consumer healthy while Feast is still importing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class StreamMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "gyre_stream_events_total",
            "Events by outcome: applied, duplicate (already applied: no effect), dead_letter",
            ["outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "gyre_stream_dead_letters_total",
            "Events moved to the dead-letter stream, by reason",
            ["reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "gyre_stream_batch_seconds",
            "Read-to-ack time of one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.scored = Counter(
            "gyre_stream_scored_total", "Events scored by the champion on the state before them", registry=r
        )
        self.unscored = Counter(
            "gyre_stream_unscored_total",
            "Events applied without a score (no champion served), by reason",
            ["reason"],
            registry=r,
        )
        self.claimed = Counter("gyre_stream_claimed_total", "Events taken over from a stale consumer", registry=r)
        self.failures = Counter("gyre_stream_batch_failures_total", "Batches that failed and stay pending", registry=r)
        self.lag = Gauge("gyre_stream_lag", "Events not yet delivered to the group", registry=r)
        self.pending = Gauge("gyre_stream_pending", "Events delivered and not yet acknowledged", registry=r)
        self.ready = Gauge("gyre_stream_ready", "1 once the consumer has pushed through Feast", registry=r)

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on a daemon thread (any path answers; the health check reads /metrics)."""
        start_http_server(port, addr=host, registry=self.registry)
