"""Split by time: train on the past, pick the threshold on the next slice, measure on the latest one.

Cuts fall between distinct timestamps, so rows sharing a timestamp never straddle two parts, and every row
of a later part is strictly later than every row of an earlier part: nothing from the future leaks back.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


class TrainingSetTooSmall(ValueError):
    """The window holds too few rows or labels to train and judge a model honestly."""


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def bounds(self, timestamp: str) -> dict[str, str]:
        """First and last timestamp of each part, for the run's parameters and the model card."""
        return {
            f"{name}_{edge}": str(getattr(part[timestamp], edge)())
            for name, part in (("train", self.train), ("validation", self.validation), ("test", self.test))
            for edge in ("min", "max")
        }


def check_size(frame: pd.DataFrame, label: str, min_rows: int, min_positives: int) -> None:
    """Fail with one clear line before any training when the window cannot support a model."""
    positives = int(frame[label].sum()) if len(frame) else 0
    if len(frame) < min_rows or positives < min_positives:
        raise TrainingSetTooSmall(
            f"training window holds {len(frame)} rows with {positives} positive labels; "
            f"at least {min_rows} rows and {min_positives} positives are required"
        )


def time_split(
    frame: pd.DataFrame, timestamp: str, label: str, validation_share: float, test_share: float
) -> TimeSplit:
    """Train / validation / test by time; each part must hold both classes."""
    ordered = frame.sort_values(timestamp, kind="stable").reset_index(drop=True)
    times = ordered[timestamp]
    first_val = times.quantile(1 - validation_share - test_share, interpolation="lower")
    first_test = times.quantile(1 - test_share, interpolation="lower")
    parts = TimeSplit(
        train=ordered[times < first_val],
        validation=ordered[(times >= first_val) & (times < first_test)],
        test=ordered[times >= first_test],
    )
    for name in ("train", "validation", "test"):
        part = getattr(parts, name)
        if part[label].nunique() < 2:
            raise TrainingSetTooSmall(f"the {name} part ({len(part)} rows) does not hold both classes of {label!r}")
    return parts
