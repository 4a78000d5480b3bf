"""Features and scores of one chunk, and the score distribution of a whole batch in bounded memory.

Features come from ``gyre.training.dataset.historical_features`` (Feast's point-in-time join for the
FeatureService, what training reads); scores from the champion's ``Deployed`` ONNX session (what the endpoint
runs), fed column by column with the endpoint's rules for missing values, so both give the same score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gyre.serving.model import Deployed
from gyre.training.pipeline import MISSING_CATEGORY

KEYS = ("transaction_id", "customer_id", "merchant_id", "event_timestamp")


def chunk_features(rows: pd.DataFrame, store: Any, service: Any) -> pd.DataFrame:
    """The keys and the FeatureService's features of ``rows``, as of each row's own timestamp."""
    from gyre.training.dataset import historical_features

    return historical_features(rows, store, service, KEYS)


def _check_inputs(model: Deployed, frame: pd.DataFrame) -> None:
    missing = [name for name in model.inputs if name not in frame.columns]
    if missing:
        raise LookupError(f"the features lack the model's inputs {missing}")


def feature_rows(model: Deployed, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The model's inputs per row as ``Deployed.score`` takes them, nulls as None (NaN would read as 'nan')."""
    _check_inputs(model, frame)
    inputs = frame[model.inputs].astype(object)
    return inputs.where(inputs.notna(), None).to_dict("records")


def score_frame(model: Deployed, frame: pd.DataFrame) -> np.ndarray:
    """Fraud probabilities of every row of a feature frame, on the serving model's own ONNX session.

    Columnar: ``Deployed.score`` builds its inputs row by row from dicts, right for a request and three times
    slower than scikit-learn for 50,000 rows (bench/batch_score.py). The inputs are the same: numbers as
    float32 with NaN for a missing value, a missing category as ``MISSING_CATEGORY`` (``Deployed.feed``'s
    rules); tests/integration/test_batch.py checks the scores equal ``Deployed.score`` on serving's rows.
    """
    if frame.empty:
        return np.empty(0)
    _check_inputs(model, frame)
    scorer = model.scorer
    inputs = frame[scorer.numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    categories = frame[scorer.categorical].astype(object)
    inputs[scorer.categorical] = categories.where(categories.notna(), MISSING_CATEGORY).astype(str)
    return scorer.proba(inputs)


BINS = 10_000  # quantiles to 1e-4 from a fixed 80 kB histogram, however many rows are scored


@dataclass
class Distribution:
    """Counts of scores in ``BINS`` equal bins over [0, 1]: mean, quantiles and histogram of any batch size."""

    threshold: float
    counts: np.ndarray = field(default_factory=lambda: np.zeros(BINS, dtype=np.int64))
    rows: int = 0
    total: float = 0.0
    flagged: int = 0

    def add(self, scores: np.ndarray) -> None:
        bins = np.clip((scores * BINS).astype(np.int64), 0, BINS - 1)
        self.counts += np.bincount(bins, minlength=BINS)
        self.rows += len(scores)
        self.total += float(scores.sum())
        self.flagged += int((scores >= self.threshold).sum())

    def quantile(self, q: float) -> float:
        """The upper edge of the bin holding the q-quantile (exact to one bin, 1e-4)."""
        index = int(np.searchsorted(np.cumsum(self.counts), q * self.rows, side="left"))
        return min(index + 1, BINS) / BINS

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {"rows": float(self.rows), "flagged": float(self.flagged)}
        if self.rows:
            out["score_mean"] = self.total / self.rows
            out["flagged_share"] = self.flagged / self.rows
            for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99):
                out[f"score_p{round(q * 100):02d}"] = self.quantile(q)
        return out

    def histogram(self, bins: int = 50) -> np.ndarray:
        return self.counts.reshape(bins, BINS // bins).sum(axis=1)
