"""Publish a day's ingested transactions to the stream in event-time order, at a chosen rate.

The rows come from the ``transactions`` table (validated, as the batch backfill reads them), in the order the
backfill applies them (event time, then id), so a replayed day streams exactly what training sees offline.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from gyre.streaming.backfill import transactions
from gyre.streaming.events import to_fields
from gyre.streaming.stream import Stream

_CHUNK = 500


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def count_between(start: dt.datetime, end: dt.datetime, bind: sa.Engine | None = None) -> int:
    from gyre.db import engine, query

    with (bind or engine()).connect() as connection:
        params = {"start": start, "end": end}
        return int(connection.execute(query("streaming/count_between.sql"), params).scalar() or 0)


def publish(
    stream: Stream,
    rows: Iterable[Mapping[str, Any]],
    rate: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish ``rows`` (transactions, in the order given) at ``rate`` events per second (0: as fast as possible).

    Events go out in chunks small enough that the rate holds within a tenth of a second.
    """
    chunk_size = _CHUNK if rate <= 0 else max(1, min(_CHUNK, int(rate / 10)))
    began = time.monotonic()
    sent = 0
    chunk: list[dict[str, str]] = []

    def flush() -> None:
        nonlocal sent
        if rate > 0:
            delay = began + (sent + len(chunk)) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stream.publish(chunk)
        sent += len(chunk)
        if progress:
            progress(len(chunk))
        chunk.clear()

    for row in rows:
        chunk.append(to_fields(row))
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return sent


def publish_between(
    stream: Stream,
    start: dt.datetime,
    end: dt.datetime,
    rate: float = 0.0,
    bind: sa.Engine | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish the ingested transactions of ``[start, end)`` in the backfill's order (``publish``)."""
    return publish(stream, transactions(start, end, bind), rate, progress)
