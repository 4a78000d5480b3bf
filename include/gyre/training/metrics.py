"""How good a model is and where to cut its scores: PR-AUC first (fraud is rare), then ROC-AUC, recall at a
fixed false-positive rate, Brier score and calibration error; the threshold minimises the configured cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


@dataclass(frozen=True)
class Metrics:
    pr_auc: float
    roc_auc: float
    recall_at_fpr: float
    brier: float
    ece: float
    positives: int
    rows: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{key}": float(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Threshold:
    """The cut that minimises ``cost_miss * misses + cost_false_alarm * false_alarms`` on validation data."""

    value: float
    expected_cost: float
    precision: float
    recall: float
    cost_miss: float
    cost_false_alarm: float


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean score| over equal-count bins, weighted by bin size.

    Equal-count bins, because with 1 % positives equal-width bins put almost every row in the first one.
    """
    order = np.argsort(proba, kind="stable")
    error = 0.0
    for part in np.array_split(order, bins):
        if len(part):
            error += len(part) * abs(float(y[part].mean()) - float(proba[part].mean()))
    return error / len(y)


def recall_at_fpr(y: np.ndarray, proba: np.ndarray, max_fpr: float) -> float:
    fpr, tpr, _ = roc_curve(y, proba)
    return float(tpr[fpr <= max_fpr].max())


def evaluate(y: np.ndarray, proba: np.ndarray, max_fpr: float) -> Metrics:
    y = np.asarray(y, dtype=int)
    return Metrics(
        pr_auc=float(average_precision_score(y, proba)),
        roc_auc=float(roc_auc_score(y, proba)),
        recall_at_fpr=recall_at_fpr(y, proba, max_fpr),
        brier=float(brier_score_loss(y, proba)),
        ece=expected_calibration_error(y, proba),
        positives=int(y.sum()),
        rows=len(y),
    )


def choose_threshold(y: np.ndarray, proba: np.ndarray, cost_miss: float, cost_false_alarm: float) -> Threshold:
    """Scan every distinct score as a cut; ties go to the higher cut (fewer alarms for the same cost)."""
    y = np.asarray(y, dtype=int)
    precision, recall, cuts = precision_recall_curve(y, proba)
    positives = y.sum()
    true_pos = recall[:-1] * positives
    flagged = np.divide(true_pos, precision[:-1], out=np.zeros_like(true_pos), where=precision[:-1] > 0)
    costs = cost_miss * (positives - true_pos) + cost_false_alarm * (flagged - true_pos)
    best = len(costs) - 1 - int(np.argmin(costs[::-1]))
    return Threshold(
        value=float(cuts[best]),
        expected_cost=float(costs[best]),
        precision=float(precision[best]),
        recall=float(recall[best]),
        cost_miss=cost_miss,
        cost_false_alarm=cost_false_alarm,
    )


def confusion(y: np.ndarray, proba: np.ndarray, threshold: float) -> np.ndarray:
    """[[true negatives, false alarms], [misses, caught]] at the threshold."""
    return confusion_matrix(np.asarray(y, dtype=int), (proba >= threshold).astype(int), labels=[0, 1])
