"""What a `score_batch` run scores: whole UTC days from its data interval, or the days its params name."""

from __future__ import annotations

import datetime as dt

import pytest

from gyre.batch.run import BatchInputError, request_for
from gyre.batch.source import Interval

UTC = dt.UTC


def _day(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=UTC)


def test_the_scheduled_interval_is_the_calendar_day_that_ended() -> None:
    # The 03:00 schedule's interval is 03:00..03:00: it scores the day before the run, midnight to midnight.
    start, end = _day(2026, 3, 1) + dt.timedelta(hours=3), _day(2026, 3, 2) + dt.timedelta(hours=3)
    assert request_for(start, end, {}).interval == Interval(_day(2026, 3, 1), _day(2026, 3, 2))
    # Consecutive runs (a backfill) cover consecutive days, each transaction once.
    nxt = request_for(end, end + dt.timedelta(days=1), {}).interval
    assert nxt == Interval(_day(2026, 3, 2), _day(2026, 3, 3))


def test_params_name_days_both_included_and_win_over_the_interval() -> None:
    start, end = _day(2026, 3, 1), _day(2026, 3, 2)
    got = request_for(start, end, {"start": "2026-01-10", "end": "2026-01-12", "table": "rescore"})
    assert got.interval == Interval(_day(2026, 1, 10), _day(2026, 1, 13)) and got.table == "rescore"
    assert request_for(None, None, {"start": "2026-01-10"}).interval == Interval(_day(2026, 1, 10), _day(2026, 1, 11))
    assert request_for(start, end, {"table": ""}).table is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-13-01"}, "must be a date"),
        ({"start": "2026-01-12", "end": "2026-01-10"}, "before 'start'"),
        ({}, "nothing says what to score"),
    ],
)
def test_bad_params_are_clear_errors(params: dict, message: str) -> None:
    with pytest.raises(BatchInputError, match=message):
        request_for(None, None, params)
