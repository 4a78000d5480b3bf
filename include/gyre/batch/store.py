"""The idempotent write: an interval's old rows are deleted and the new ones inserted in one transaction.

A failed or interrupted run therefore leaves the previous scores of the interval in place, and a re-run or
a backfill replaces them: readers never see a half-written interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from gyre.batch.source import Interval
from gyre.db import apply_schema, engine, query


def ensure_schema() -> None:
    apply_schema(("batch/schema.sql",))


@dataclass(frozen=True)
class Stamp:
    """What every row of one batch run is traceable by."""

    source: str
    interval: Interval
    model_name: str
    model_version: str
    model_run_id: str
    batch_run_id: str
    threshold: float


class Writer:
    """Inserts chunks into the open transaction that deleted the interval."""

    def __init__(self, connection: sa.Connection, stamp: Stamp) -> None:
        self.connection, self.stamp = connection, stamp

    def write(self, keys: pd.DataFrame, scores: np.ndarray) -> None:
        if keys.empty:
            return
        s = self.stamp
        common: dict[str, Any] = {
            "source": s.source,
            "model_name": s.model_name,
            "model_version": s.model_version,
            "model_run_id": s.model_run_id,
            "batch_run_id": s.batch_run_id,
            "interval_start": s.interval.start,
            "interval_end": s.interval.end,
        }
        rows = [
            {
                **common,
                "transaction_id": str(tx),
                "customer_id": str(customer),
                "merchant_id": str(merchant),
                "event_timestamp": pd.Timestamp(at).to_pydatetime(),
                "score": float(score),
                "decision": bool(score >= s.threshold),
            }
            for tx, customer, merchant, at, score in zip(
                keys["transaction_id"], keys["customer_id"], keys["merchant_id"], keys["event_timestamp"], scores,
                strict=True,
            )
        ]  # fmt: skip
        self.connection.execute(query("batch/insert_scores.sql"), rows)


@contextmanager
def replacing(stamp: Stamp) -> Iterator[Writer]:
    """One transaction: the interval's rows of this source deleted, then every chunk written, then commit."""
    with engine().begin() as connection:
        params = {"source": stamp.source, "start": stamp.interval.start, "end": stamp.interval.end}
        connection.execute(query("batch/delete_interval.sql"), params)
        yield Writer(connection, stamp)
