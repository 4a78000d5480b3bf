"""``gyre data``: generate landing files, load them outside Airflow, and print snapshot digests."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

import click

from gyre.data.scenarios import SCENARIOS

_DAY = click.DateTime(formats=["%Y-%m-%d"])


class InputMissing(click.ClickException):
    """What a command reads is not there: one ``Error:`` line and exit code 2, as for a bad argument."""

    exit_code = 2


def _days(start: dt.datetime, end: dt.datetime | None) -> list[dt.date]:
    from gyre.data.writer import days

    return list(days(start.date(), (end or start).date()))


@click.group()
def data() -> None:
    """The transaction source and its ingestion."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@data.command()
@click.option("--start", type=_DAY, required=True, help="first day (YYYY-MM-DD)")
@click.option("--end", type=_DAY, help="last day, included; default: --start")
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default="baseline", show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option(
    "--landing", type=click.Path(path_type=Path), help="landing zone; default: GYRE_LANDING_DIR or <home>/landing"
)
def generate(
    start: dt.datetime, end: dt.datetime | None, scenario: str, seed: int, fmt: str, landing: Path | None
) -> None:
    """Write each day's transactions and chargebacks export into the landing zone, one folder per day."""
    from gyre.config import get_settings
    from gyre.data.writer import write_day

    landing = landing or get_settings().landing
    for day in _days(start, end):
        write_day(landing, day, seed=seed, scenario=scenario, fmt=fmt)  # type: ignore[arg-type]
    click.echo(f"{landing}")


@data.command()
def scenarios() -> None:
    """List the named scenarios."""
    for name, text in SCENARIOS.items():
        click.echo(f"{name:18} {text}")


@data.command()
@click.option("--start", type=_DAY, required=True)
@click.option("--end", type=_DAY)
@click.option(
    "--feed", type=click.Choice(["transactions", "labels"]), multiple=True, default=["transactions", "labels"]
)
@click.option("--landing", type=click.Path(path_type=Path))
@click.option("--report", type=click.Path(path_type=Path), help="write the per-file accounting here as JSON")
def ingest(
    start: dt.datetime, end: dt.datetime | None, feed: tuple[str, ...], landing: Path | None, report: Path | None
) -> None:
    """Validate and load days from the landing zone (what the Airflow DAG does, one interval at a time)."""
    from gyre.config import get_settings

    landing = landing or get_settings().landing
    if not landing.is_dir():  # said before Great Expectations and pandas load
        raise InputMissing(f"no landing folder {landing}; `gyre data generate` writes one, or pass --landing")
    from gyre.ingest.load import BatchRejected, LandingMissing
    from gyre.ingest.load import ingest as run
    from gyre.ingest.reader import FileUnreadable

    summary = []
    for day in _days(start, end):
        for name in feed:
            try:
                result = run(name, day, landing=landing)
            except LandingMissing as error:
                raise InputMissing(str(error)) from None
            except (BatchRejected, FileUnreadable) as error:
                raise click.ClickException(str(error)) from None
            summary.append({"feed": name, "day": day.isoformat(), "digest": result.digest,
                            "files": [vars(f) for f in result.files]})  # fmt: skip
            click.echo(f"{name} {day}: {result.rows_in} in, {result.rows_loaded} loaded, "
                       f"{result.rows_quarantined} quarantined, {result.digest}")  # fmt: skip
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(summary, indent=2))


@data.command()
@click.option("--start", type=_DAY, required=True)
@click.option("--end", type=_DAY)
@click.option("--feed", type=click.Choice(["transactions", "labels"]), default="transactions", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="also export the validated rows to this Parquet file")
def snapshot(start: dt.datetime, end: dt.datetime | None, feed: str, out: Path | None) -> None:
    """Print the content digest of the validated interval (the data version training records)."""
    from gyre.ingest.snapshot import export, interval_digest

    first, last = _days(start, end)[0], _days(start, end)[-1]
    result = interval_digest(feed, first, last)
    if out:
        export(feed, first, last, out)
    click.echo(json.dumps(result, indent=2))


@data.command()
@click.option("--day", type=_DAY, required=True, help="the ingested day to publish (YYYY-MM-DD, UTC)")
@click.option("--rate", type=float, default=0.0, show_default=True, help="events per second; 0 = as fast as possible")
def replay(day: dt.datetime, rate: float) -> None:
    """Publish a day's validated transactions to the stream in event-time order (the consumer's input)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from gyre.config import get_settings
    from gyre.streaming.replay import count_between, day_bounds, publish_between
    from gyre.streaming.stream import gyre_stream

    if rate < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--rate")
    settings = get_settings()
    stream = gyre_stream(settings)
    stream.ensure_group()
    start, end = day_bounds(day.date())
    total = count_between(start, end)
    if not total:
        raise click.ClickException(f"no ingested transactions on {start:%Y-%m-%d}; `gyre data ingest` loads them")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"{start:%Y-%m-%d} → {settings.stream_name}", total=total)
        sent = publish_between(stream, start, end, rate, progress=lambda n: progress.advance(task, n))
    click.echo(f"published {sent} transactions of {start:%Y-%m-%d} to {settings.stream_name}")
