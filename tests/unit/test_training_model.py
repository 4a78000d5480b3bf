"""A real model on generator data: it learns, its ONNX twin agrees, and behavioural tests catch broken ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gyre.config import load_settings
from gyre.export.onnx import OnnxScorer, convert, parity, try_int8
from gyre.registry.behaviour import check_all
from gyre.training.pipeline import build_pipeline
from gyre.training.report import model_card, plots
from gyre.training.spec import FRAUD
from gyre.training.synthetic import SERVICE_FEATURES, fraud_frame, inverted_amount
from gyre.training.train import fit

FIRST = dt.date(2026, 3, 2)
SETTINGS = load_settings(training_min_rows=1000)


@pytest.fixture(scope="module")
def data():
    return fraud_frame(FIRST, 5)


@pytest.fixture(scope="module")
def model(data):
    return fit(data, FRAUD, SETTINGS)


def test_the_model_learns_fraud_and_explains_itself(model) -> None:
    assert model.test.pr_auc > 0.25  # about 1 % of rows are fraud: chance is ~0.01
    assert model.test.roc_auc > 0.65
    assert set(model.features) == set(SERVICE_FEATURES)
    # An amount, burst, time or place signal leads, never a merchant-volume or card-age artefact.
    assert model.importance.index[0] in {
        "txn_amount",
        "amount_to_customer_mean_30d",
        "txn_mcc",
        "is_foreign",
        "hour_of_day",
        "cust_amount_mean_1h",
        "cust_amount_sum_1h",
        "cust_txn_count_1h",
        "seconds_since_prev_txn",
    }
    assert 0 < model.threshold.value < 1


def test_holdout_is_the_latest_part_with_keys_and_inputs(model) -> None:
    holdout = model.holdout()
    assert holdout["event_timestamp"].min() > model.split.validation["event_timestamp"].max()
    assert {"transaction_id", "customer_id", "is_fraud", *model.features} <= set(holdout.columns)


def test_plots_and_card_come_from_the_same_facts(model, tmp_path: Path) -> None:
    y = model.split.test["is_fraud"].to_numpy(int)
    files = plots(y, model.score(model.split.test).to_numpy(), model.threshold, model.importance, tmp_path)
    assert {p.name for p in files.values()} == {
        "pr_curve.png",
        "calibration.png",
        "confusion_matrix.png",
        "feature_importance.png",
    }
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in files.values())
    card = model_card(
        "fraud",
        model.estimator,
        model.features,
        {"gyre.git_commit": "abc"},
        {},
        model.validation,
        model.test,
        model.threshold,
        model.importance,
    )
    assert f"{model.test.pr_auc:.4f}" in card and f"{model.threshold.value:.4f}" in card and "abc" in card


def test_onnx_agrees_with_scikit_learn_on_every_holdout_row(model, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(convert(model.pipeline, model.numeric, model.categorical))
    inputs = model.inputs(model.split.test)
    check = parity(model.pipeline, OnnxScorer(path, model.numeric, model.categorical), inputs, 1e-5)
    assert check.ok and check.rows == len(inputs), check
    attempt = try_int8(
        path, model.pipeline, inputs, model.split.test["is_fraud"].to_numpy(int), model.numeric, model.categorical, 1e-5
    )
    assert not attempt.kept and "nothing to quantize" in attempt.reason  # tree ensembles have no int8 kernels


def test_lightgbm_twin_takes_the_same_branch_between_neighbouring_float32_values() -> None:
    """LightGBM splits halfway between 1.0 and the float32 just below it; rounded to float32 that threshold is
    1.0 and every 1.0 row would take the other branch in the graph (parity off by about 0.8)."""
    rng = np.random.default_rng(0)
    below = float(np.nextafter(np.float32(1.0), np.float32(0.0)))
    x = np.where(rng.random(3000) < 0.5, 1.0, below)
    frame = pd.DataFrame({"x": x, "noise": rng.random(3000)})
    pipeline = build_pipeline(["x", "noise"], [], "lightgbm").fit(frame, (x == 1.0) & (rng.random(3000) < 0.6))
    scorer = OnnxScorer(convert(pipeline, ["x", "noise"], []), ["x", "noise"], [])
    check = parity(pipeline, scorer, frame, 1e-5)
    assert check.ok, check
    assert pipeline.predict_proba(frame[x == 1.0])[:, 1].min() > pipeline.predict_proba(frame[x == below])[:, 1].max()


def test_parity_check_catches_a_graph_that_differs(model, tmp_path: Path) -> None:
    """An ONNX graph of another model (different seed) must fail the 1e-5 bound."""
    other = fit(fraud_frame(FIRST, 5), FRAUD, SETTINGS, seed=7)
    path = tmp_path / "other.onnx"
    path.write_bytes(convert(other.pipeline, other.numeric, other.categorical))
    check = parity(
        model.pipeline, OnnxScorer(path, other.numeric, other.categorical), model.inputs(model.split.test), 1e-5
    )
    assert not check.ok and check.max_abs_diff > 1e-3


def test_behaviour_holds_for_the_honest_model(model) -> None:
    results = check_all(lambda f: model.pipeline.predict_proba(f)[:, 1], model.holdout(), FRAUD.behaviour)
    assert [r.name for r in results if not r.passed] == [], [r.detail for r in results]


def test_behaviour_catches_a_model_that_learned_larger_means_safer(data) -> None:
    broken = fit(inverted_amount(data), FRAUD, SETTINGS)
    results = {
        r.name: r
        for r in check_all(lambda f: broken.pipeline.predict_proba(f)[:, 1], broken.holdout(), FRAUD.behaviour)
    }
    assert not results["foreign_night_amount_x10"].passed, results["foreign_night_amount_x10"].detail
    assert results["identifiers_do_not_matter"].passed


def test_behaviour_catches_a_model_that_uses_an_identifier(data) -> None:
    leaky_spec = dataclasses.replace(FRAUD, keys=("transaction_id", "merchant_id"))  # customer_id becomes an input
    linear = SETTINGS.model_copy(update={"training_estimator": "logistic_regression"})  # fast on 2,000 one-hots
    leaky = fit(data, leaky_spec, linear)
    assert "customer_id" in leaky.features
    results = {
        r.name: r for r in check_all(lambda f: leaky.pipeline.predict_proba(f)[:, 1], leaky.holdout(), FRAUD.behaviour)
    }
    assert not results["identifiers_do_not_matter"].passed, results["identifiers_do_not_matter"].detail
    assert np.isfinite(results["identifiers_do_not_matter"].worst_change)
