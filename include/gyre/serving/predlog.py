"""The prediction log writer: requests hand rows to a bounded buffer; one thread writes them to Postgres in batches.

A request never waits for the database: ``put`` is non-blocking, rows are written at most ``LINGER_S`` late,
and a row that finds the buffer full, or a batch the database refuses, is dropped and counted (``dropped``,
exported as a metric) rather than lost silently. Monitoring reads this table as the live data of its drift reports.

The buffer is a deque the writer empties every ``LINGER_S``, not a ``queue.Queue``: a queue's ``put`` wakes the
waiting writer thread for every row, which then takes the GIL from the request in flight (py-spy put the enqueue
at a fifth of a /score request's time at 8 connections).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa

from gyre.db import apply_schema, sql_text

log = logging.getLogger(__name__)

SCHEMA = "serving/schema.sql"
LINGER_S = 0.2
# A batch is COPied into a session's staging table and moved with one insert that skips rows already logged:
# less of the writer thread's time per row than an executemany's, time it no longer takes from the requests.
STAGE, COPY, MOVE = (
    "serving/stage_predictions.sql",
    "serving/copy_predictions.sql",
    "serving/insert_staged_predictions.sql",
)
COLUMNS = (
    "request_id", "role", "scored_at", "event_timestamp", "transaction_id", "customer_id", "merchant_id",
    "model_name", "model_version", "score", "decision", "threshold", "features", "unknown_entity", "feature_age_s",
    "latency_ms", "arm", "error",
)  # fmt: skip
FEATURES = COLUMNS.index("features")


def features_json(features: dict[str, Any]) -> str:
    """The features as JSON that Postgres accepts: a missing value (NaN, say no previous transaction) is null."""
    return orjson.dumps(features, default=str).decode()


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
        self._stage, self._copy, self._move = (sql_text(name) for name in (STAGE, COPY, MOVE))

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
            started = time.thread_time()
            self._write(rows)
            if self._rows and not self._stop.is_set():
                # Paced: after each step a pause as long as the CPU time it took, so a backlog goes out in steps
                # that the requests in flight share the core with, not in one burst that doubles their latency.
                time.sleep(time.thread_time() - started)
        self._writing = False

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            engine = self._bind()
            if not self._schema_ready:
                apply_schema([SCHEMA], engine)
                self._schema_ready = True
            with engine.begin() as connection:
                cursor = connection.connection.driver_connection.cursor()
                cursor.execute(self._stage)
                with cursor.copy(self._copy) as copy:
                    for row in rows:
                        # ``arm`` and ``error`` are null in rows of a writer without arms (a canary's columns).
                        values = [row.get(column) for column in COLUMNS]
                        values[FEATURES] = features_json(row["features"])
                        copy.write_row(values)
                cursor.execute(self._move)
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
