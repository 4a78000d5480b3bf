"""Write daily export files into the landing zone, one folder per day, the way an upstream system would."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pandas as pd

from gyre.data import source

log = logging.getLogger(__name__)
Format = Literal["csv", "parquet"]


def day_folder(landing: Path, day: dt.date) -> Path:
    return landing / day.isoformat()


def days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every day from ``start`` to ``end``, both included."""
    for offset in range((end - start).days + 1):
        yield start + dt.timedelta(days=offset)


def _write(frame: pd.DataFrame, path: Path, fmt: Format) -> Path:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    target = path.with_suffix(f".{fmt}")
    partial = target.with_name(f".{target.name}.partial")
    if fmt == "csv":
        frame.to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    else:
        frame.to_parquet(partial, index=False)
    os.replace(partial, target)
    return target


def write_day(
    landing: Path, day: dt.date, seed: int = 42, scenario: str = "baseline", fmt: Format = "csv"
) -> list[Path]:
    """The day's transactions and chargebacks export, replacing any earlier export of the same day."""
    folder = day_folder(landing, day)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("transactions.*"), *folder.glob("labels.*")]:
        stale.unlink()
    tx = source.export(source.transactions(seed, day, scenario), seed, day, scenario)
    written = [
        _write(tx, folder / "transactions", fmt),
        _write(source.labels(seed, day, scenario), folder / "labels", fmt),
    ]
    log.info("wrote %s: %d transactions (%s, scenario %s)", folder, len(tx), fmt, scenario)
    return written
