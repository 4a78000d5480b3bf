"""Metrics and the cost-based threshold, on scores whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from gyre.training.metrics import choose_threshold, evaluate, expected_calibration_error, recall_at_fpr


def test_perfect_scores_give_perfect_metrics() -> None:
    y = np.array([0] * 90 + [1] * 10)
    proba = np.where(y == 1, 0.9, 0.1)
    metrics = evaluate(y, proba, max_fpr=0.01)
    assert metrics.pr_auc == pytest.approx(1.0)
    assert metrics.roc_auc == pytest.approx(1.0)
    assert metrics.recall_at_fpr == pytest.approx(1.0)
    assert (metrics.positives, metrics.rows) == (10, 100)


def test_calibration_error_sees_overconfidence() -> None:
    rng = np.random.default_rng(0)
    proba = rng.uniform(0, 0.2, 20_000)
    y = (rng.random(20_000) < proba).astype(int)
    assert expected_calibration_error(y, proba) < 0.01
    assert expected_calibration_error(y, np.clip(proba * 3, 0, 1)) > 0.1


def test_recall_at_fpr_reads_the_roc_curve() -> None:
    y = np.array([0] * 100 + [1] * 4)
    proba = np.concatenate([np.linspace(0, 0.5, 100), [0.9, 0.8, 0.45, 0.1]])
    assert recall_at_fpr(y, proba, 0.0) == pytest.approx(0.5)


def test_threshold_moves_with_the_cost_of_misses() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(5000) < 0.05).astype(int)
    proba = np.clip(0.05 + 0.5 * y * rng.random(5000) + 0.2 * rng.random(5000), 0, 1)
    cheap_misses = choose_threshold(y, proba, cost_miss=1, cost_false_alarm=1)
    dear_misses = choose_threshold(y, proba, cost_miss=100, cost_false_alarm=1)
    assert dear_misses.value < cheap_misses.value
    assert dear_misses.recall > cheap_misses.recall
    flagged = proba >= dear_misses.value
    cost = 100 * int(((y == 1) & ~flagged).sum()) + int(((y == 0) & flagged).sum())
    assert cost == pytest.approx(dear_misses.expected_cost)
