"""What a batch scores: the validated ``transactions`` of an interval, or the rows of a table a user names.

Both stream in chunks from a server-side cursor, so memory is bounded by the chunk size, not the interval.
The default source is training's own spine (``sql/training/spine.sql``); a named table is read through
SQLAlchemy's reflection (its name and columns are checked against the catalogue, never formatted into SQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from gyre.db import engine, query
from gyre.features.online import ENTITY_KEYS
from gyre.features.request import REQUEST_FIELDS

DEFAULT_TABLE = "transactions"
# What the FeatureService needs per row (entity keys, request fields), and the id the score is written under.
REQUIRED_COLUMNS = ("transaction_id", *ENTITY_KEYS, *REQUEST_FIELDS)


class BatchInputError(LookupError):
    """The request names something that does not exist: fail at once, a retry would not help."""


class UnknownTable(BatchInputError):
    pass


class MissingColumns(BatchInputError):
    pass


@dataclass(frozen=True)
class Interval:
    """Rows with ``start <= event_timestamp < end``."""

    start: dt.datetime
    end: dt.datetime

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC"


class Source:
    """The rows of one table in one interval, counted and read ``chunk_rows`` at a time."""

    def __init__(self, table: str | None, interval: Interval) -> None:
        self.name = table or DEFAULT_TABLE
        self.interval = interval
        self._table = None if self.name == DEFAULT_TABLE else _reflect(self.name)

    def count(self) -> int:
        params = {"start": self.interval.start, "end": self.interval.end}
        with engine().connect() as connection:
            if self._table is None:
                return int(connection.execute(query("batch/count_transactions.sql"), params).scalar_one())
            select = sa.select(sa.func.count()).select_from(self._table).where(*self._in_interval())
            return int(connection.execute(select).scalar_one())

    def chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        if self._table is None:
            from gyre.training.dataset import TrainingWindow, spine_chunks

            # Labels are not read by scoring; "known before the interval" keeps the spine's join cheap and honest.
            window = TrainingWindow(self.interval.start, self.interval.end, self.interval.start)
            yield from spine_chunks(window, chunk_rows)
            return
        c = self._table.c
        columns = [c[name] for name in REQUIRED_COLUMNS]
        columns[REQUIRED_COLUMNS.index("amount")] = sa.cast(c.amount, sa.Double).label("amount")
        select = sa.select(*columns).where(*self._in_interval()).order_by(c.event_timestamp, c.transaction_id)
        with engine().connect().execution_options(stream_results=True, max_row_buffer=chunk_rows) as connection:
            yield from pd.read_sql(select, connection, chunksize=chunk_rows)

    def _in_interval(self) -> tuple[sa.ColumnElement[bool], ...]:
        at = self._table.c.event_timestamp
        return at >= self.interval.start, at < self.interval.end


def _reflect(name: str) -> sa.Table:
    """The named table (``schema.table`` or ``table``), with every column scoring needs, or a clear error."""
    schema, _, table = name.rpartition(".")
    inspector = sa.inspect(engine())
    if not inspector.has_table(table, schema=schema or None):
        where = f"schema {schema!r}" if schema else "the database's search path"
        raise UnknownTable(f"table {name!r} does not exist in {where}")
    reflected = sa.Table(table, sa.MetaData(), schema=schema or None, autoload_with=engine())
    missing = [column for column in REQUIRED_COLUMNS if column not in reflected.c]
    if missing:
        raise MissingColumns(
            f"table {name!r} lacks column(s) {', '.join(missing)}; scoring needs {', '.join(REQUIRED_COLUMNS)}"
        )
    return reflected
