"""The configured rules on the fraud model's real features: quiet on clean traffic, loud on every drift scenario.

A model is trained on a clean week of the generator's traffic; its frozen holdout, scored by itself, is the
reference, exactly as the nightly report uses it. Current windows carry their matured labels, so every
rule (feature share, key features, prediction, ROC-AUC drop) is in play for both the clean and drifted days.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gyre.config import get_settings, load_settings
from gyre.monitoring.decision import DriftRules, drift_reasons
from gyre.monitoring.drift import run_drift_report
from gyre.training.spec import FRAUD
from gyre.training.synthetic import fraud_frame
from gyre.training.train import TrainedModel, fit
from tests.integration.monitoring_support import night_traffic

TRAIN_START = dt.date(2026, 3, 2)
NIGHT = dt.date(2026, 3, 20)
BOOTSTRAP_SAMPLES = 20
MAX_FALSE_ALARM_RATE = 0.05
# Scenarios that change what the model sees; null_spike and renamed_column are stopped by the ingest contract.
DRIFT_SCENARIOS = ("amount_inflation", "new_mcc_mix", "concept_drift", "amounts_in_cents")


def scored(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    return model.inputs(frame).assign(score=model.score(frame), is_fraud=frame["is_fraud"].astype(int).to_numpy())


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    settings = load_settings(training_min_rows=1000, training_estimator="logistic_regression")
    return fit(fraud_frame(TRAIN_START, 7), FRAUD, settings)


@pytest.fixture(scope="module")
def reference(model: TrainedModel) -> pd.DataFrame:
    return scored(model, model.holdout())


def _evidently_defaults(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]) -> dict[str, tuple]:
    """Each column's (method, score, PSI) from a report that lets Evidently choose every test itself."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(reference[c])]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=[c for c in columns if c not in numeric])
    metrics = [DataDriftPreset(columns=columns), *(ValueDrift(column=c, method="psi") for c in columns)]
    datasets = (
        Dataset.from_pandas(f[columns].reset_index(drop=True), data_definition=definition) for f in (current, reference)
    )
    found: dict[str, dict[str, float]] = {c: {} for c in columns}
    for metric in Report(metrics).run(*datasets).dict()["metrics"]:
        config = metric["config"]
        if str(config["type"]).endswith(":ValueDrift"):
            found[config["column"]][str(config["method"])] = float(metric["value"])
    return {c: (*next((m, v) for m, v in by.items() if m != "psi"), by["psi"]) for c, by in found.items()}


def judge(
    model: TrainedModel, reference: pd.DataFrame, current: pd.DataFrame, out: Path, name: str, compare: bool = False
) -> list[str]:
    """The rules' reasons on one window; ``compare`` also checks every statistic against Evidently's defaults."""
    features = [*model.numeric, *model.categorical]
    result = run_drift_report(reference, current, features, "score", out, name, label="is_fraud", with_summary=False)
    if compare:  # the verdicts below then come from the statistics Evidently gives when left to choose
        expected = _evidently_defaults(reference, current, [*features, "score"])
        for drift in [*result.features.values(), result.prediction]:
            method, score, psi = expected[drift.column]
            assert (drift.method, drift.score, drift.psi) == (method, pytest.approx(score), pytest.approx(psi)), drift
    return drift_reasons(result, DriftRules.from_settings(get_settings()), reference_roc_auc=model.test.roc_auc)


def test_clean_traffic_does_not_trigger_retraining(
    model: TrainedModel, reference: pd.DataFrame, tmp_path: Path
) -> None:
    """Bootstrap samples of clean days, each the size of one day's traffic: at most 5 % may raise an alarm."""
    pool = pd.concat([scored(model, night_traffic(NIGHT + dt.timedelta(days=d))) for d in range(3)])
    size = len(pool) // 3
    rng = np.random.default_rng(7)
    alarms = []
    for i in range(BOOTSTRAP_SAMPLES):
        sample = pool.iloc[rng.integers(0, len(pool), size)].reset_index(drop=True)
        reasons = judge(model, reference, sample, tmp_path, f"clean-{i}", compare=i == 0)
        if reasons:
            alarms.append(reasons)
    rate = len(alarms) / BOOTSTRAP_SAMPLES
    print(f"false-alarm rate on clean bootstrap samples: {len(alarms)}/{BOOTSTRAP_SAMPLES} = {rate:.1%}; {alarms}")
    assert rate <= MAX_FALSE_ALARM_RATE, alarms


@pytest.mark.parametrize("scenario", DRIFT_SCENARIOS)
def test_each_drift_scenario_is_detected(
    scenario: str, model: TrainedModel, reference: pd.DataFrame, tmp_path: Path
) -> None:
    reasons = judge(model, reference, scored(model, night_traffic(NIGHT, scenario)), tmp_path, scenario, compare=True)
    print(f"{scenario}: {reasons}")
    assert reasons, f"{scenario} went unnoticed"
    if scenario == "concept_drift":  # features barely move; the matured labels show it
        assert any("ROC-AUC" in reason for reason in reasons)
    if scenario == "new_mcc_mix":
        assert any("txn_mcc" in reason for reason in reasons)
