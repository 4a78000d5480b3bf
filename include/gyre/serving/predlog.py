"""The prediction log writer: requests hand rows to a bounded buffer; one thread writes them to Postgres in batches.

A request never waits for the database: ``put`` is non-blocking, rows are written at most ``LINGER_S`` late,
and a row that finds the buffer full, or a batch the database refuses, is dropped and counted (``dropped``,
exported as a metric) rather than lost silently. Monitoring reads this table as the live data of its drift reports.

The buffer is a deque the writer empties every ``LINGER_S``, not a ``queue.Queue``: a queue's ``put`` wakes the
waiting writer thread for every row, which then takes the GIL from the request in flight (py-spy put the enqueue
at a fifth of a /score request's time at 8 connections).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from gyre.db import apply_schema, query

log = logging.getLogger(__name__)

SCHEMA = "serving/schema.sql"
LINGER_S = 0.2
INSERT = "serving/insert_prediction.sql"


def features_json(features: dict[str, Any]) -> str:
    """The features as JSON that Postgres accepts: a missing value (NaN, say no previous transaction) is null."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in features.items()}
    return json.dumps(clean, default=str, allow_nan=False)


class PredictionLog:
    """Bounded, non-blocking, batched writer of ``prediction_log`` rows."""

    def __init__(
        self,
        bind: Callable[[], sa.Engine],
        capacity: int,
        batch: int,
        on_drop: Callable[[str, int], None] | None = None,
    ) -> None:
        self._bind = bind
        self._rows: deque[dict[str, Any]] = deque()
        self._capacity = capacity
        self._writing = False  # set by the writer before it takes rows, cleared once the buffer is empty
        self._batch = batch
        self._on_drop = on_drop
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._schema_ready = False

    def put(self, row: dict[str, Any]) -> bool:
        """Queue one row; ``False`` (and counted) when the queue is full. Never blocks."""
        if len(self._rows) >= self._capacity:
            self._drop("queue_full", 1)
            return False
        self._rows.append(row)  # atomic: the event loop and the shadow thread both put
        return True

    def _drop(self, reason: str, rows: int) -> None:
        self.dropped[reason] += rows
        if self._on_drop is not None:
            self._on_drop(reason, rows)

    @property
    def depth(self) -> int:
        return len(self._rows)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gyre-prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Rows wait up to LINGER_S to share one insert: one transaction per request would hold the GIL of the
        # scoring worker's core for longer than scoring it (seen with py-spy at a few hundred req/s).
        while not self._stop.wait(LINGER_S):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        while self._rows:
            self._writing = True
            rows = [self._rows.popleft() for _ in range(min(self._batch, len(self._rows)))]
            self._write(rows)
        self._writing = False

    def _write(self, rows: list[dict[str, Any]]) -> None:
        # ``arm`` and ``error`` are null in rows of a writer without arms (a canary rollout's columns).
        params = [{"arm": None, "error": None, **row, "features": features_json(row["features"])} for row in rows]
        try:
            engine = self._bind()
            if not self._schema_ready:
                apply_schema([SCHEMA], engine)
                self._schema_ready = True
            with engine.begin() as connection:
                connection.execute(query(INSERT), params)
            self.written += len(rows)
            self.last_error = None
        except Exception as error:  # noqa: BLE001 - the database being away must not stop serving
            self.last_error = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            log.warning("prediction log: %d rows dropped: %s", len(rows), self.last_error)
            self._drop("write_failed", len(rows))
            time.sleep(0.5)  # do not spin on a database that is down

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until what was queued is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while (self._rows or self._writing) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
