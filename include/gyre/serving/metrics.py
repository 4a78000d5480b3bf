"""Prometheus metrics of the scoring endpoint, in their own registry (appended to BentoML's /metrics output)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Sub-millisecond buckets: the model runs in tens of microseconds and the target is p99 < 10 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.latency = Histogram(
            "gyre_request_latency_seconds",
            "Request latency inside the server",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.responses = Counter(
            "gyre_responses_total", "Responses by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.decisions = Counter(
            "gyre_decisions_total", "Scored transactions by decision", ["decision", "model_version"], registry=r
        )
        self.errors = Counter("gyre_errors_total", "Errors by kind", ["kind"], registry=r)
        self.model_info = Gauge(
            "gyre_model_info", "The served model versions (value 1)", ["role", "version"], registry=r
        )
        self.swaps = Counter("gyre_model_swaps_total", "Alias moves followed without a restart", ["role"], registry=r)
        self.log_dropped = Counter(
            "gyre_prediction_log_dropped_total", "Prediction-log rows dropped", ["reason"], registry=r
        )
        self.log_queue = Gauge("gyre_prediction_log_queue_depth", "Prediction-log rows waiting", registry=r)
        self.shadow_dropped = Counter(
            "gyre_shadow_dropped_total", "Shadow scorings skipped (queue full or failed)", ["reason"], registry=r
        )
        self.unknown_entities = Counter("gyre_unknown_entities_total", "Transactions scored on defaults", registry=r)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
