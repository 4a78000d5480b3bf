"""Prometheus metrics of the scoring endpoint, in their own registry.

Under ``bentoml serve`` every worker writes its values to Prometheus' multiprocess directory, which BentoML's
/metrics already collects (counters summed over workers, gauges as declared here): appending this registry
there would print every series twice, so a family is appended only where BentoML's output lacks it.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

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
            "gyre_model_info",
            "The served model versions (1; 0 once replaced)",
            ["role", "version"],
            multiprocess_mode="max",
            registry=r,
        )
        self.swaps = Counter("gyre_model_swaps_total", "Alias moves followed without a restart", ["role"], registry=r)
        self.log_dropped = Counter(
            "gyre_prediction_log_dropped_total", "Prediction-log rows dropped", ["reason"], registry=r
        )
        self.log_queue = Gauge(
            "gyre_prediction_log_queue_depth", "Prediction-log rows waiting", multiprocess_mode="sum", registry=r
        )
        self.shadow_dropped = Counter(
            "gyre_shadow_dropped_total", "Shadow scorings skipped (queue full or failed)", ["reason"], registry=r
        )
        self.unknown_entities = Counter("gyre_unknown_entities_total", "Transactions scored on defaults", registry=r)

    def exposition(self, collected: str = "") -> str:
        """``collected`` (BentoML's /metrics text) with each of Gyre's metric families it lacks, so none is printed
        twice or left out: which ones BentoML already has depends on whether this process's values went to the
        multiprocess directory, which a library setting ``PROMETHEUS_MULTIPROC_DIR`` on import (Feast does) can
        change for some metrics and not others."""
        present = set(re.findall(r"^# TYPE (\S+)", collected, re.MULTILINE))
        missing = [family for family in self.registry.collect()
                   if family.name not in present and f"{family.name}_total" not in present]  # fmt: skip
        if not missing:
            return collected
        return collected + generate_latest(_Families(missing)).decode("utf-8")


class _Families:
    """Metric families already collected, in the shape ``generate_latest`` reads a registry."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families
