"""``gyre stream``: run the consumer, backfill the offline rows, seed the state, look at dead letters.

Imports stay light until a command runs: `gyre up` starts ``python -m gyre.streaming`` and checks its
/metrics port, which answers before Feast is imported.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gyre.config import Settings

_DAY = click.DateTime(formats=["%Y-%m-%d"])


def build_consumer(settings: Settings | None = None, name: str | None = None, metrics: object = None) -> object:
    """The consumer of Gyre's stream on Gyre's Redis, writing through Gyre's Feast store, and scoring with the
    champion unless ``GYRE_STREAM_SCORE`` is off (the scorer's threads start here; ``consumer.scorer.stop()``)."""
    import redis

    from gyre.config import get_settings
    from gyre.services.endpoints import redis_url
    from gyre.streaming.consumer import Consumer
    from gyre.streaming.sink import FeastSink
    from gyre.streaming.state import StateStore
    from gyre.streaming.stream import gyre_stream

    settings = settings or get_settings()
    client = redis.Redis.from_url(redis_url(settings), socket_timeout=30, health_check_interval=30)
    scorer = None
    if settings.stream_score:
        from gyre.serving.runtime import Runtime

        scorer = Runtime.start(settings)
    return Consumer(
        gyre_stream(settings, client),
        StateStore(client, settings.stream_name, settings.stream_dedup_ttl_s),
        FeastSink(),
        name or settings.stream_consumer,
        batch=settings.stream_batch,
        claim_idle_ms=settings.stream_claim_idle_ms,
        metrics=metrics,  # type: ignore[arg-type]
        scorer=scorer,
    )


@click.group()
def stream() -> None:
    """The transaction stream and its consumer (intraday features)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@stream.command()
@click.option("--name", help="consumer name (default GYRE_STREAM_CONSUMER); a restart re-reads its pending")
@click.option("--until-idle", type=float, help="return once the stream has been empty this many seconds")
def consume(name: str | None = None, until_idle: float | None = None) -> None:
    """Read the stream, score each event with the champion, update the aggregates exactly once, write them online."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from gyre.config import get_settings
    from gyre.streaming.metrics import StreamMetrics

    settings = get_settings()
    metrics = StreamMetrics()
    metrics.serve(settings.bind_host, settings.stream_metrics_port)
    consumer = build_consumer(settings, name, metrics)
    signal.signal(signal.SIGTERM, lambda *_: consumer.stop())  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, lambda *_: consumer.stop())  # type: ignore[attr-defined]
    logging.getLogger(__name__).info(
        "consuming %s as %s/%s; metrics on %s:%d",
        settings.stream_name,
        settings.stream_group,
        name or settings.stream_consumer,
        settings.bind_host,
        settings.stream_metrics_port,
    )
    try:
        consumer.run(max_idle_s=until_idle)  # type: ignore[attr-defined]
    finally:
        if consumer.scorer is not None:  # type: ignore[attr-defined]
            consumer.scorer.stop()  # type: ignore[attr-defined]  # flushes the prediction log


@stream.command()
@click.option("--start", type=_DAY, required=True, help="first day (YYYY-MM-DD)")
@click.option("--end", type=_DAY, help="last day, included; default: --start")
def backfill(start: dt.datetime, end: dt.datetime | None) -> None:
    """Write the per-transaction intraday rows of ingested days to the offline store (the stream's code)."""
    from gyre.streaming.backfill import backfill_days

    for day, counts in backfill_days(start.date(), (end or start).date()).items():
        click.echo(f"{day}: {counts.customer_rows} customer rows, {counts.merchant_rows} merchant rows")


@stream.command()
@click.option("--until", "until", type=_DAY, required=True, help="state as of this day's start (YYYY-MM-DD)")
def seed(until: dt.datetime) -> None:
    """Seed the consumer's state from ingested history, so a cold stream starts with full windows."""
    from gyre.streaming.backfill import seed_state

    at = dt.datetime.combine(until.date(), dt.time(), tzinfo=dt.UTC)
    click.echo(f"{seed_state(at)} entity states seeded as of {at:%Y-%m-%d}")


@stream.command("dead-letters")
@click.option("--count", type=int, default=20, show_default=True)
def dead_letters(count: int) -> None:
    """The oldest events on the dead-letter stream, with their reasons."""
    from gyre.config import get_settings
    from gyre.streaming.stream import REASON_FIELD, gyre_stream

    for message in gyre_stream(get_settings()).dead_letters(count):
        tx = message.fields.get("transaction_id", "?")
        click.echo(f"{message.id} {tx}: {message.fields.get(REASON_FIELD)}")
