"""Drift rules fire on real drift and stay quiet on clean traffic; guardrails hold a retrain back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gyre.monitoring.decision import DriftRules, Guardrails, PastRetrain, decide, drift_reasons
from gyre.monitoring.drift import DriftResult, Quality, run_drift_report

FEATURES = [f"f{i}" for i in range(8)] + ["channel"]
RULES = DriftRules(key_features=("f0",))


def traffic(rows: int, seed: int, amount_scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"f{i}": rng.gamma(2.0 + i, 10.0, rows) for i in range(8)})
    frame["f0"] *= amount_scale
    frame["channel"] = rng.choice(["pos", "web", "app"], rows, p=[0.6, 0.3, 0.1])
    frame["score"] = 1 / (1 + np.exp(-(frame["f0"] / 20 - 3)))
    frame["label"] = (rng.random(rows) < frame["score"]).astype(int)
    return frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return traffic(5000, seed=1)


def test_clean_traffic_rarely_triggers_a_retrain(reference: pd.DataFrame, tmp_path: Path) -> None:
    samples = 20
    alarms = sum(
        bool(
            drift_reasons(
                run_drift_report(
                    reference,
                    traffic(2000, seed=100 + i),
                    FEATURES,
                    "score",
                    tmp_path,
                    f"clean-{i}",
                    with_summary=False,
                ),
                RULES,
            )
        )
        for i in range(samples)
    )
    print(f"false-alarm rate on clean samples: {alarms}/{samples}")
    assert alarms / samples <= 0.05


def test_inflated_amounts_are_detected_and_explained(reference: pd.DataFrame, tmp_path: Path) -> None:
    result = run_drift_report(
        reference, traffic(2000, seed=7, amount_scale=1.6), FEATURES, "score", tmp_path, "inflated"
    )
    reasons = drift_reasons(result, RULES)
    assert "f0" in result.drifted_features
    assert any(reason.startswith("key feature f0 drifted") for reason in reasons)
    assert any(reason.startswith("prediction drifted") for reason in reasons)
    html = result.html_path.read_text()
    assert result.json_path.exists() and "f0" in html and len(html) > 10_000


def test_quality_is_measured_only_on_matured_labels(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = traffic(2000, seed=8)
    current.loc[current.index[:1900], "label"] = np.nan  # labels not arrived yet
    result = run_drift_report(
        reference, current, FEATURES, "score", tmp_path, "immature", label="label", with_summary=False
    )
    assert result.quality is None
    current = traffic(2000, seed=8)
    result = run_drift_report(
        reference, current, FEATURES, "score", tmp_path, "matured", label="label", with_summary=False
    )
    assert result.quality is not None and result.quality.rows == 2000 and 0.5 < result.quality.roc_auc <= 1.0


def test_a_broken_model_shows_as_a_quality_drop(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = traffic(2000, seed=9)
    current["label"] = np.random.default_rng(0).permutation(current["label"].to_numpy())  # scores now meaningless
    result = run_drift_report(
        reference, current, FEATURES, "score", tmp_path, "broken", label="label", with_summary=False
    )
    reasons = drift_reasons(result, RULES, reference_roc_auc=0.8)
    assert any("ROC-AUC" in reason for reason in reasons)


@pytest.mark.parametrize(("frauds", "alarm"), [(40, False), (4000, True)])
def test_a_quality_drop_counts_only_beyond_its_sampling_error(frauds: int, alarm: bool) -> None:
    """0.739 -> 0.660 is what a clean night with 40 frauds can show; with 4,000 frauds it is a real drop."""
    quality = Quality(rows=frauds * 70, roc_auc=0.66, precision=None, recall=None, positives=frauds)
    result = DriftResult({}, None, 3000, frauds * 70, Path("r.html"), Path("r.json"), quality)
    reasons = drift_reasons(result, RULES, reference_roc_auc=0.739)
    assert bool(reasons) is alarm, reasons


def test_missing_columns_are_a_clear_error(reference: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"columns missing .*'f_unknown'"):
        run_drift_report(reference, reference, ["f_unknown"], "score", tmp_path, "bad")


NOW = datetime(2026, 3, 10, tzinfo=UTC)
GUARD = Guardrails(cooldown=timedelta(hours=24), weekly_cap=2)


def test_no_reasons_means_no_action() -> None:
    assert decide([], [], NOW, GUARD).retrain is False


def test_a_retrain_in_flight_blocks_another() -> None:
    decision = decide(["drift"], [PastRetrain(NOW - timedelta(days=3), finished=False)], NOW, GUARD)
    assert not decision.retrain and decision.blocked_by == ["a retrain is already in flight"]


def test_cooldown_and_weekly_cap() -> None:
    recent = [PastRetrain(NOW - timedelta(hours=5), finished=True)]
    assert "cooldown" in decide(["drift"], recent, NOW, GUARD).blocked_by[0]
    week = [PastRetrain(NOW - timedelta(days=d), finished=True) for d in (2, 4)]
    assert "weekly cap" in decide(["drift"], week, NOW, GUARD).blocked_by[0]
    old = [PastRetrain(NOW - timedelta(days=d), finished=True) for d in (8, 9)]
    assert decide(["drift"], old, NOW, GUARD).retrain is True
