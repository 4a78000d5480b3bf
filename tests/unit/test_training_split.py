"""Time split and size rules: no row of a later part is earlier than any row of an earlier part."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gyre.training.split import TrainingSetTooSmall, check_size, time_split


def frame(rows: int = 1000, positives_every: int = 10) -> pd.DataFrame:
    times = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(np.arange(rows) // 3, unit="min")
    shuffled = np.random.default_rng(0).permutation(rows)
    return pd.DataFrame(
        {"event_timestamp": times[shuffled], "x": shuffled, "is_fraud": (shuffled % positives_every) == 0}
    )


def test_parts_are_ordered_in_time_and_share_no_timestamp() -> None:
    parts = time_split(frame(), "event_timestamp", "is_fraud", 0.15, 0.15)
    assert parts.train["event_timestamp"].max() < parts.validation["event_timestamp"].min()
    assert parts.validation["event_timestamp"].max() < parts.test["event_timestamp"].min()
    assert len(parts.train) + len(parts.validation) + len(parts.test) == 1000
    assert 120 <= len(parts.test) <= 180 and 120 <= len(parts.validation) <= 180


def test_a_part_without_positives_fails_clearly() -> None:
    data = frame()
    data.loc[data["event_timestamp"] >= data["event_timestamp"].quantile(0.8), "is_fraud"] = False
    with pytest.raises(TrainingSetTooSmall, match="test part"):
        time_split(data, "event_timestamp", "is_fraud", 0.15, 0.15)


@pytest.mark.parametrize(("rows", "every"), [(0, 10), (50, 10), (1000, 500)])
def test_an_empty_or_small_window_fails_with_the_counts(rows: int, every: int) -> None:
    data = frame(rows, every) if rows else frame(1).iloc[:0]
    with pytest.raises(TrainingSetTooSmall, match=rf"holds {rows} rows with \d+ positive labels; at least 100 rows"):
        check_size(data, "is_fraud", min_rows=100, min_positives=5)
