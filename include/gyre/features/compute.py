"""Compute the feature tables for one interval: delete and insert its rows in one transaction (idempotent)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gyre.db import apply_schema, engine, query
from gyre.streaming.backfill import backfill_interval

log = logging.getLogger(__name__)

SCHEMA = ("ingest/schema.sql", "features/schema.sql", "streaming/schema.sql")  # every table Feast reads
VIEWS = ("customer", "merchant")


@dataclass(frozen=True)
class IntervalRows:
    """Feature rows written for the transactions of ``[start, end)``: daily rows per entity, and intraday rows
    (one per transaction and entity) unless the caller writes those itself."""

    start: dt.datetime
    end: dt.datetime
    customer_rows: int
    merchant_rows: int
    intraday_rows: int | None = None


def ensure_schema(bind: sa.Engine | None = None) -> None:
    apply_schema(SCHEMA, bind)


def compute_interval(
    start: dt.datetime, end: dt.datetime, bind: sa.Engine | None = None, intraday: bool = True
) -> IntervalRows:
    """Replace the feature rows of transactions in ``[start, end)``; the same interval gives the same rows.

    The daily rows come from SQL (sql/features/); the intraday rows of ``fraud_model_v2`` from the stream
    consumer's own aggregation, run over the ingested transactions (``gyre.streaming.backfill``). A caller
    building many days at once passes ``intraday=False`` and backfills them in one pass.
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError(f"need a tz-aware interval with start < end, got {start!r}..{end!r}")
    ensure_schema(bind)
    params = {"start": start, "end": end}
    counts: dict[str, int] = {}
    with (bind or engine()).begin() as connection:
        # Two runs of one interval (a retry racing a backfill) must not interleave their delete and insert.
        connection.execute(sa.text("select pg_advisory_xact_lock(hashtext('gyre:features'))"))
        for view in VIEWS:
            connection.execute(query(f"features/delete_{view}_interval.sql"), params)
            counts[view] = connection.execute(query(f"features/insert_{view}_interval.sql"), params).rowcount
    streamed = None
    if intraday:
        done = backfill_interval(start, end, bind)
        streamed = done.customer_rows + done.merchant_rows
    rows = IntervalRows(start, end, counts["customer"], counts["merchant"], streamed)
    log.info("features %s..%s: %d customer rows, %d merchant rows, %s intraday rows", start, end,
             rows.customer_rows, rows.merchant_rows, streamed)  # fmt: skip
    return rows


def day_interval(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _validated(bind: sa.Engine | None = None) -> dict[str, bool]:
    """Each day whose two feeds are validated (YYYY-MM-DD, oldest first) and whether it still needs a build."""
    ensure_schema(bind)
    with (bind or engine()).connect() as connection:
        return {day.isoformat(): unbuilt for day, unbuilt in connection.execute(query("features/validated_days.sql"))}


def days_without_features(bind: sa.Engine | None = None) -> list[str]:
    """Validated days (both feeds loaded) that have no feature rows yet, oldest first."""
    return [day for day, unbuilt in _validated(bind).items() if unbuilt]


def validated_days(days: Iterable[str], bind: sa.Engine | None = None) -> list[str]:
    """Of ``days`` (YYYY-MM-DD), those whose transactions and chargebacks are both validated, oldest first."""
    wanted = set(days)
    return [day for day in _validated(bind) if day in wanted] if wanted else []


def days_to_build(
    requested: str | None, triggering_events: Mapping[Any, Iterable[Any]] | None, asset_names: Collection[str]
) -> list[str]:
    """The days a run is asked for: the requested one, and the ``day`` of every event of ``asset_names`` that
    triggered it (a backfill's queued ingest events arrive as one run). Invalid dates fail here, with the value."""
    days = {requested} if requested else set()
    for asset, events in (triggering_events or {}).items():
        if getattr(asset, "name", None) in asset_names:
            days |= {str(event.extra["day"]) for event in events if (event.extra or {}).get("day")}
    for day in days:
        try:
            dt.date.fromisoformat(day)
        except ValueError as error:
            raise ValueError(f"day {day!r} is not a YYYY-MM-DD date ({error})") from None
    return sorted(days)
