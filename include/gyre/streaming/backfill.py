"""The intraday features in batch: the stream's aggregation code run over the ingested ``transactions``.

``backfill_interval`` writes the offline rows (one per transaction and entity) that Feast's push sources read
as their batch source, so the point-in-time join gives training exactly the state the stream serves.
``seed_state`` gives a cold consumer its entities' history, so its first windows are full and equal to the
offline ones. Both read the history the longest window needs before the interval, and apply it in the
stream's order (event time, then transaction id).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from gyre.config import Settings, get_settings
from gyre.db import apply_schema, engine, query
from gyre.streaming.aggregate import CUSTOMER, ENTITIES, MERCHANT, WINDOWS, Event, Row, State, apply_event

log = logging.getLogger(__name__)

SCHEMA = ("ingest/schema.sql", "streaming/schema.sql")
HISTORY = dt.timedelta(microseconds=WINDOWS[-1][1])


@dataclass(frozen=True)
class Backfilled:
    start: dt.datetime
    end: dt.datetime
    customer_rows: int
    merchant_rows: int


def ensure_schema(bind: sa.Engine | None = None) -> None:
    apply_schema(SCHEMA, bind)


def transactions(start: dt.datetime, end: dt.datetime, bind: sa.Engine | None = None) -> Iterator[dict]:
    """Validated transactions in ``[start, end)``, in stream order, as mappings of their columns."""
    with (bind or engine()).connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=5000)
        for row in result.execute(query("streaming/transactions_between.sql"), {"start": start, "end": end}):
            yield dict(row._mapping)


def _event(row: dict) -> Event:
    return Event(row["transaction_id"], row["customer_id"], row["merchant_id"], row["event_timestamp"],
                 float(row["amount"]))  # fmt: skip


def rows_between(start: dt.datetime, end: dt.datetime, bind: sa.Engine | None = None) -> list[Row]:
    """Rows of the transactions in ``[start, end)``, each on the history of the window before it."""
    states: dict[tuple[str, str], State] = {}
    out = []
    for row in transactions(start - HISTORY, end, bind):
        rows = apply_event(states, _event(row))
        if row["event_timestamp"] >= start:
            out.extend(rows)
    return out


def _params(row: Row) -> dict:
    return {
        row.entity.key: row.entity_id,
        "event_timestamp": row.available_at,
        "transaction_id": row.transaction_id,
        "transaction_at": row.transaction_at,
        **dict(zip(row.entity.features, row.values, strict=True)),
    }


def backfill_interval(start: dt.datetime, end: dt.datetime, bind: sa.Engine | None = None) -> Backfilled:
    """Replace the interval's offline intraday rows in one transaction; the same interval gives the same rows."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError(f"need a tz-aware interval with start < end, got {start!r}..{end!r}")
    ensure_schema(bind)
    rows = rows_between(start, end, bind)
    counts = {}
    with (bind or engine()).begin() as connection:
        connection.execute(sa.text("select pg_advisory_xact_lock(hashtext('gyre:streaming-backfill'))"))
        for entity in ENTITIES:
            connection.execute(query(f"streaming/delete_{entity.kind}_interval.sql"), {"start": start, "end": end})
            params = [_params(r) for r in rows if r.entity is entity]
            if params:
                connection.execute(query(f"streaming/insert_{entity.kind}_row.sql"), params)
            counts[entity.kind] = len(params)
    done = Backfilled(start, end, counts[CUSTOMER.kind], counts[MERCHANT.kind])
    log.info("intraday rows %s..%s: %d customer, %d merchant", start, end, done.customer_rows, done.merchant_rows)
    return done


def backfill_days(first: dt.date, last: dt.date, bind: sa.Engine | None = None) -> dict[str, Backfilled]:
    """``backfill_interval`` for each day from ``first`` to ``last`` (UTC), both included."""
    out = {}
    day = first
    while day <= last:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        out[day.isoformat()] = backfill_interval(start, start + dt.timedelta(days=1), bind)
        day += dt.timedelta(days=1)
    return out


def states_at(at: dt.datetime, bind: sa.Engine | None = None) -> dict[tuple[str, str], State]:
    """Every entity's state just before ``at``, from the transactions of the longest window before it."""
    states: dict[tuple[str, str], State] = {}
    for row in transactions(at - HISTORY, at, bind):
        apply_event(states, _event(row))
    return states


def seed_state(
    at: dt.datetime, store: object | None = None, bind: sa.Engine | None = None, settings: Settings | None = None
) -> int:
    """Write the states as of ``at`` into the consumer's Redis (``store``: a ``StateStore``; default Gyre's)."""
    if store is None:
        import redis

        from gyre.services.endpoints import redis_url
        from gyre.streaming.state import StateStore

        settings = settings or get_settings()
        client = redis.Redis.from_url(redis_url(settings))
        store = StateStore(client, settings.stream_name, settings.stream_dedup_ttl_s)
    seeded = store.seed(states_at(at, bind))  # type: ignore[attr-defined]
    log.info("seeded %d entity states as of %s", seeded, at)
    return seeded
